import CharterDomain
import CharterInput
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Reads request bodies within the configured limit and parses them, turning every malformed
/// body into a clear 400.
struct RequestBodyReader: Sendable {
    let limit: Int

    func bytes(_ request: Request) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: limit)
        } catch {
            throw AppError.tooLarge(limit: limit)
        }
    }

    func text(_ request: Request) async throws -> String {
        let buffer = try await bytes(request)
        guard let text = String(validating: buffer.readableBytesView, as: UTF8.self) else {
            throw AppError.badRequest("The request body is not valid UTF-8.")
        }
        return text
    }

    static let jsonDecoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    func json<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        try await json(type, from: request, plain: { _ in nil })
    }

    /// `plain` reads the body first and answers nil for anything it does not fully understand,
    /// which JSONDecoder then decodes: a fast path that cannot change the result.
    func json<T: Decodable>(_ type: T.Type, from request: Request, plain: (ByteBufferView) -> T?) async throws -> T {
        if request.headers[.contentType] != nil, request.mediaType != "application/json" {
            throw AppError(
                .unsupportedMediaType, code: "unsupported_media_type", message: "Send the body as application/json.")
        }
        let buffer = try await bytes(request)
        if let value = plain(buffer.readableBytesView) { return value }
        do {
            return try Self.jsonDecoder.decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw AppError.badRequest("The JSON body is malformed: \(Self.describe(error))")
        }
    }

    func form(_ request: Request) async throws -> Form {
        guard request.mediaType == "application/x-www-form-urlencoded" else {
            throw AppError(
                .unsupportedMediaType, code: "unsupported_media_type",
                message: "Send the form as application/x-www-form-urlencoded.")
        }
        guard let form = Form(urlEncoded: try await text(request)) else {
            throw AppError.badRequest("The form data is malformed.")
        }
        return form
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let p = context.codingPath.map(\.stringValue).joined(separator: ".")
            return p.isEmpty ? "" : " at '\(p)'"
        }
        switch error {
        case .typeMismatch(_, let c): return "wrong type\(path(c))."
        case .valueNotFound(_, let c): return "missing value\(path(c))."
        case .keyNotFound(let key, let c): return "missing field '\(key.stringValue)'\(path(c))."
        case .dataCorrupted(let c): return "not valid JSON\(path(c))."
        @unknown default: return "not valid JSON."
        }
    }
}

/// A URL-encoded form or query string (CharterInput's reader).
typealias Form = URLEncodedForm

extension URLEncodedForm {
    func required(_ name: String) throws -> String {
        guard let value = self[name] else { throw AppError.badRequest("The form is missing the field '\(name)'.") }
        return value
    }

    /// The whole number in `name`, which must lie in `range`; the ranges are documented with each
    /// parameter, and anything outside is a 400, never a number that overflows later.
    func integer(_ name: String, in range: ClosedRange<Int> = 0...Self.maximumOffset) throws -> Int? {
        guard let raw = self[name], !raw.isEmpty else { return nil }
        guard let value = Int(raw), range.contains(value) else {
            throw AppError.badRequest(
                "'\(name)' must be a whole number from \(range.lowerBound) to \(range.upperBound).")
        }
        return value
    }

    /// The largest offset a paged list accepts: far beyond any list, far below overflow.
    static let maximumOffset = 1_000_000_000

    func boolean(_ name: String) throws -> Bool? {
        guard let raw = self[name], !raw.isEmpty else { return nil }
        switch raw {
        case "true", "1", "on": return true
        case "false", "0", "off": return false
        default: throw AppError.badRequest("'\(name)' must be true or false.")
        }
    }
}

extension Request {
    /// The body's media type, without parameters: "application/json; charset=utf-8" is
    /// "application/json", and "application/jsonx" is not.
    var mediaType: String? {
        guard let header = headers[.contentType] else { return nil }
        let type = header.split(separator: ";", maxSplits: 1).first ?? ""
        return type.trimmedOfSpacesAndTabs.lowercased()
    }

    var query: Form {
        Form(urlEncoded: uri.query ?? "") ?? Form()
    }
}

extension Substring {
    /// Without the spaces and tabs HTTP allows around a header's parts. Foundation's
    /// `trimmingCharacters` goes through NSString, a measurable cost on every vote.
    var trimmedOfSpacesAndTabs: Substring {
        var trimmed = self
        while let first = trimmed.first, first == " " || first == "\t" { trimmed.removeFirst() }
        while let last = trimmed.last, last == " " || last == "\t" { trimmed.removeLast() }
        return trimmed
    }
}
