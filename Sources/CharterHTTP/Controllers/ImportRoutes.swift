import CharterDomain
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ZIPFoundation

/// `POST /api/v1/conversations/import`: a Polis export's files, as multipart form data (one
/// part per file, named by file name) or as a zip of the folder.
struct ImportRoutes: Sendable {
    static let path = "/api/v1/conversations/import"
    static let files = ["participants-votes.csv", "comments.csv", "votes.csv", "summary.csv"]
    let services: AppServices

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/api/v1/conversations/{slug}/export/polis") { _, context in
            _ = try context.requireOrganiser()
            return try await exportResponse(context)
        }
        router.get("/admin/conversations/{slug}/export/polis") { _, context in
            guard context.organiser != nil, context.organiserSessionToken != nil else {
                return Response.seeOther("/admin/login")
            }
            return try await exportResponse(context)
        }
        router.post(RouterPath(stringLiteral: Self.path)) { request, context in
            let organiser = try context.requireOrganiser()
            let limit = services.configuration.maxImportBytes
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: limit)
            } catch {
                throw AppError.tooLarge(limit: limit)
            }
            let data = Data(body.readableBytesView)
            let files: [String: Data]
            if request.mediaType == "multipart/form-data" {
                files = try Multipart.files(data, contentType: request.headers[.contentType] ?? "")
            } else if request.mediaType == "application/zip" || request.mediaType == "application/x-zip-compressed" {
                files = try Self.unzip(data)
            } else {
                throw AppError(
                    .unsupportedMediaType, code: "unsupported_media_type",
                    message: "Send the export's files as multipart/form-data or as an application/zip.")
            }
            func text(_ name: String) throws -> String? {
                guard let bytes = files[name] else { return nil }
                guard let string = String(data: bytes, encoding: .utf8) else {
                    throw AppError.badRequest("\(name) is not UTF-8 text.")
                }
                return string
            }
            guard let matrix = try text("participants-votes.csv") else {
                throw CharterError.invalid(
                    field: "participants-votes.csv", message: "The export needs participants-votes.csv.")
            }
            let export: PolisExport
            do {
                export = try PolisExport.parse(
                    participantsVotes: matrix, comments: try text("comments.csv"), votes: try text("votes.csv"),
                    summary: try text("summary.csv"))
            } catch {
                throw CharterError.invalid(field: "export", message: "The export is malformed: \(error)")
            }
            let slug =
                request.query["slug"].flatMap { $0.isEmpty ? nil : $0 }
                ?? Slug.derived(from: export.topic ?? "polis-import")
            let summary = try await services.store.importPolis(
                export, settings: export.conversationSettings(slug: slug, fallbackTitle: slug), by: Actor(organiser))
            services.analysis.conversationChanged(summary.conversation.id)
            struct Body: Encodable {
                let conversation: String
                let created: Bool
                let statementsAdded: Int
                let participantsAdded: Int
                let votesAdded: Int
            }
            return Response.json(
                Body(
                    conversation: summary.conversation.slug, created: summary.createdConversation,
                    statementsAdded: summary.statementsAdded, participantsAdded: summary.participantsAdded,
                    votesAdded: summary.votesAdded),
                status: summary.createdConversation ? .created : .ok)
        }
    }

    private func exportResponse(_ context: AppRequestContext) async throws -> Response {
        let conversation = try await services.conversation(context)
        let files = try await ConversationExport.polisFiles(conversation: conversation, store: services.store)
        let zip = try Self.exportZip(files, folder: conversation.slug)
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/zip",
                .contentDisposition: "attachment; filename=\"\(conversation.slug)-polis-export.zip\"",
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: zip)))
    }

    /// The conversation's Polis export as a zip of the four files in a folder named by its slug.
    static func exportZip(_ files: [String: String], folder: String) throws -> Data {
        let archive = try Archive(data: Data(), accessMode: .create)
        for (name, text) in files.sorted(by: { $0.key < $1.key }) {
            let data = Data(text.utf8)
            try archive.addEntry(
                with: "\(folder)/\(name)", type: .file, uncompressedSize: Int64(data.count), compressionMethod: .deflate
            ) { position, size in data.subdata(in: Int(position)..<Int(position) + size) }
        }
        guard let data = archive.data else {
            throw AppError(.internalServerError, code: "zip", message: "The export could not be zipped.")
        }
        return data
    }

    /// The export's files from a zip, by file name wherever they sit in it.
    static func unzip(_ data: Data) throws -> [String: Data] {
        let archive: Archive
        do {
            archive = try Archive(data: data, accessMode: .read)
        } catch {
            throw AppError.badRequest("The body is not a readable zip archive.")
        }
        var files: [String: Data] = [:]
        for entry in archive where entry.type == .file {
            let name = String(entry.path.split(separator: "/").last ?? "")
            guard Self.files.contains(name) else { continue }
            var content = Data()
            do {
                _ = try archive.extract(entry) { content.append($0) }
            } catch {
                throw AppError.badRequest("\(name) in the zip cannot be read.")
            }
            files[name] = content
        }
        return files
    }
}

/// Just enough of multipart/form-data (RFC 7578) to receive files.
enum Multipart {
    static func files(_ body: Data, contentType: String) throws -> [String: Data] {
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

    struct Part {
        /// The form field's name.
        var name: String?
        /// The file's name, without any folder, when the part is a file.
        var fileName: String?
        var data: Data
    }

    static func parts(_ body: Data, contentType: String) throws -> [Part] {
        guard
            let boundary = contentType.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) })
                .first(where: { $0.lowercased().hasPrefix("boundary=") })
                .map({
                    String($0.dropFirst("boundary=".count)).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                }),
            !boundary.isEmpty
        else { throw AppError.badRequest("The multipart content type has no boundary.") }
        let delimiter = Data("--\(boundary)".utf8)
        var parts: [Part] = []
        var cursor = body.startIndex
        guard let first = body.range(of: delimiter, in: cursor..<body.endIndex) else {
            throw AppError.badRequest("The multipart body has no parts.")
        }
        cursor = first.upperBound
        while true {
            // After a delimiter: "--" ends the body, CRLF starts a part.
            if body[cursor...].starts(with: Data("--".utf8)) { break }
            guard body[cursor...].starts(with: Data("\r\n".utf8)) else {
                throw AppError.badRequest("The multipart body is malformed.")
            }
            let partStart = cursor + 2
            guard let headerEnd = body.range(of: Data("\r\n\r\n".utf8), in: partStart..<body.endIndex),
                let next = body.range(of: Data("\r\n".utf8) + delimiter, in: headerEnd.upperBound..<body.endIndex)
            else { throw AppError.badRequest("The multipart body is malformed.") }
            let headers = String(decoding: body[partStart..<headerEnd.lowerBound], as: UTF8.self)
            let (name, fileName) = disposition(headers)
            parts.append(
                Part(name: name, fileName: fileName, data: body.subdata(in: headerEnd.upperBound..<next.lowerBound)))
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
                guard pair.count == 2 else { continue }
                let value = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                if pair[0] == "filename" { fileName = value.split(separator: "/").last.map(String.init) ?? "" }
                if pair[0] == "name" { name = value }
            }
            return (name, fileName)
        }
        return (nil, nil)
    }
}
