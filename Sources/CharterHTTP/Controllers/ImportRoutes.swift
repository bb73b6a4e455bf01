import CharterDomain
import CharterInput
import CharterServices
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ZIPFoundation

/// `POST /api/v1/conversations/import`: a Polis export's files, as multipart form data (one
/// part per file, named by file name) or as a zip of the folder.
struct ImportRoutes: Sendable {
    /// The one route whose body may exceed the general limit (up to `maxImportBytes`).
    static let path = "/api/v1/conversations/import"
    let services: AppServices

    /// Any organiser imports into a new conversation, or (as its owner) into one that came
    /// from an import.
    var organiserRoutes: RouteCollection<OrganiserContext> {
        RouteCollection(context: OrganiserContext.self)
            .post("conversations/import", use: importExport)
    }

    /// Exporting hands out every vote: the owners'.
    var ownerRoutes: RouteCollection<ConversationContext> {
        RouteCollection(context: ConversationContext.self)
            .get("conversations/{slug}/export/polis", use: export)
    }

    var ownerPages: RouteCollection<AdminConversationContext> {
        RouteCollection(context: AdminConversationContext.self)
            .get("conversations/{slug}/export/polis", use: exportPage)
    }

    @Sendable func export(_ request: Request, context: ConversationContext) async throws -> Response {
        try await exportResponse(context.conversation)
    }

    @Sendable func exportPage(_ request: Request, context: AdminConversationContext) async throws -> Response {
        try await exportResponse(context.conversation)
    }

    @Sendable func importExport(_ request: Request, context: OrganiserContext) async throws -> Response {
        let organiser = context.organiser
        let limit = services.configuration.maxImportBytes
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limit)
        } catch {
            throw AppError.tooLarge(limit: limit)
        }
        let data = Data(body.readableBytesView)
        let limits = services.configuration.importLimits
        let export: PolisExport
        do {
            let files: [String: Data]
            if request.mediaType == "multipart/form-data" {
                files = try PolisArchive.files(multipart: data, contentType: request.headers[.contentType] ?? "")
            } else if request.mediaType == "application/zip" || request.mediaType == "application/x-zip-compressed" {
                files = try PolisArchive.unzip(data, limits: limits)
            } else {
                throw AppError(
                    .unsupportedMediaType, code: "unsupported_media_type",
                    message: "Send the export's files as multipart/form-data or as an application/zip.")
            }
            export = try PolisArchive.export(files, limits: limits)
        } catch let error as ImportReadError {
            switch error {
            case .tooLarge(let message):
                throw AppError(.contentTooLarge, code: "import_too_large", message: message)
            case .malformed(let message):
                throw AppError.badRequest(message)
            case .invalid(let message):
                throw CharterError.invalid(field: "export", message: message)
            }
        }
        let slug =
            request.query["slug"].flatMap { $0.isEmpty ? nil : $0 }
            ?? Slug.derived(from: export.topic ?? "polis-import")
        if let existing = try await services.store.conversation(slug: slug) {
            try await services.require(.owner, of: organiser, conversationID: existing.id)
        }
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

    private func exportResponse(_ conversation: Conversation) async throws -> Response {
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
}
