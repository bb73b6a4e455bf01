public import Foundation

/// Just enough of multipart/form-data (RFC 7578) to receive files. Reads with checked
/// positions only: a malformed body is a `MultipartError`, never a trap.
public enum Multipart {
    public struct MultipartError: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    public struct Part: Sendable, Equatable {
        /// The form field's name.
        public var name: String?
        /// The file's name, without any folder, when the part is a file.
        public var fileName: String?
        public var data: Data

        public init(name: String?, fileName: String?, data: Data) {
            self.name = name
            self.fileName = fileName
            self.data = data
        }
    }

    /// The files of a body, by file name (or field name for a part that is not a file).
    public static func files(_ body: Data, contentType: String) throws(MultipartError) -> [String: Data] {
        var files: [String: Data] = [:]
        for part in try parts(body, contentType: contentType) {
            // An empty file input sends a part with an empty file name: no file.
            if let fileName = part.fileName {
                if !fileName.isEmpty { files[fileName] = part.data }
            } else if let name = part.name {
                files[name] = part.data
            }
        }
        return files
    }

    /// The boundary parameter of a multipart content type.
    static func boundary(_ contentType: String) -> String? {
        for parameter in contentType.split(separator: ";") {
            let trimmed = parameter.trimmingCharacters(in: .whitespaces)
            guard trimmed.lowercased().hasPrefix("boundary=") else { continue }
            let value = String(trimmed.dropFirst("boundary=".count)).trimmingCharacters(
                in: CharacterSet(charactersIn: "\""))
            // RFC 2046: 1–70 characters.
            return value.isEmpty || value.utf8.count > 70 ? nil : value
        }
        return nil
    }

    public static func parts(_ body: Data, contentType: String) throws(MultipartError) -> [Part] {
        guard let boundary = boundary(contentType) else {
            throw MultipartError(description: "The multipart content type has no valid boundary.")
        }
        let delimiter = Data("--\(boundary)".utf8)
        let partSeparator = Data("\r\n".utf8) + delimiter
        let headerEnd = Data("\r\n\r\n".utf8)
        var parts: [Part] = []
        guard let first = body.range(of: delimiter, in: body.startIndex..<body.endIndex) else {
            throw MultipartError(description: "The multipart body has no parts.")
        }
        var cursor = first.upperBound
        while true {
            // After a delimiter: "--" ends the body, CRLF starts a part.
            let rest = body[cursor...]
            if rest.starts(with: Data("--".utf8)) { break }
            guard rest.starts(with: Data("\r\n".utf8)) else {
                throw MultipartError(description: "The multipart body is malformed.")
            }
            let partStart = cursor + 2
            guard let headers = body.range(of: headerEnd, in: partStart..<body.endIndex),
                let next = body.range(of: partSeparator, in: headers.upperBound..<body.endIndex)
            else { throw MultipartError(description: "The multipart body is malformed.") }
            let (name, fileName) = disposition(String(decoding: body[partStart..<headers.lowerBound], as: UTF8.self))
            parts.append(
                Part(name: name, fileName: fileName, data: body.subdata(in: headers.upperBound..<next.lowerBound)))
            cursor = next.upperBound
        }
        return parts
    }

    /// The part's field name and file name (without any folder).
    static func disposition(_ headers: String) -> (name: String?, fileName: String?) {
        for line in headers.split(separator: "\r\n") where line.lowercased().hasPrefix("content-disposition:") {
            var name: String?
            var fileName: String?
            for parameter in line.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                let pair = parameter.split(separator: "=", maxSplits: 1).map(String.init)
                guard pair.count == 2, let key = pair.first, let raw = pair.last else { continue }
                let value = raw.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                if key == "filename" { fileName = value.split(separator: "/").last.map(String.init) ?? "" }
                if key == "name" { name = value }
            }
            return (name, fileName)
        }
        return (nil, nil)
    }
}
