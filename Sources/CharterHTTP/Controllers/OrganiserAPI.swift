import CharterDomain
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird

/// The organiser half of `/api/v1`: conversations, seeding, moderation and the audit log,
/// behind an API token (`Authorization: Bearer co_…`, made by `charter admin create-token`).
struct OrganiserAPI: Sendable {
    let services: AppServices
    let openAPIDocument: String

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/api/v1/conversations") { _, context in
            let organiser = try context.requireOrganiser()
            let visible = try await services.visibleConversationIDs(organiser)
            let all = try await services.store.conversations().filter { visible?.contains($0.id) ?? true }
            var bodies: [API.ConversationBody] = []
            for conversation in all {
                let owner = try await services.store.role(of: organiser, conversationID: conversation.id) == .owner
                bodies.append(services.organiserBody(conversation, owner: owner))
            }
            return Response.json(["conversations": bodies])
        }
        router.post("/api/v1/conversations") { request, context in
            let organiser = try context.requireOrganiser()
            let patch = try await services.body.json(API.ConversationPatch.self, from: request)
            let created = try await services.store.createConversation(try patch.creating(), by: Actor(organiser))
            return Response.json(services.organiserBody(created, owner: true), status: .created)
        }
        router.patch("/api/v1/conversations/{slug}") { request, context in
            let organiser = try context.requireOrganiser()
            let conversation = try await services.conversation(context)
            let patch = try await services.body.json(API.ConversationPatch.self, from: request)
            let updated = try await services.store.updateConversation(
                id: conversation.id, try patch.applied(to: conversation.settings), by: Actor(organiser))
            return Response.json(services.organiserBody(updated, owner: true))
        }
        router.put("/api/v1/conversations/{slug}/xids") { request, context in
            let organiser = try context.requireOrganiser()
            let conversation = try await services.conversation(context)
            struct Body: Decodable {
                let xids: [String]
            }
            let body = try await services.body.json(Body.self, from: request)
            guard body.xids.count <= 100_000 else {
                throw CharterError.invalid(field: "xids", message: "An allow-list holds at most 100000 panel ids.")
            }
            let xids = try body.xids.map { try ParticipantIdentity.validatedXID($0) }
            try await services.store.setAllowedXIDs(conversationID: conversation.id, xids: xids, by: Actor(organiser))
            let count = try await services.store.allowedXIDCount(conversationID: conversation.id)
            return Response.json(["allowed": count])
        }
        router.post("/api/v1/conversations/{slug}/xids/release") { request, context in
            let organiser = try context.requireOrganiser()
            let conversation = try await services.conversation(context)
            struct Body: Decodable {
                let xid: String
            }
            let xid = try ParticipantIdentity.validatedXID(try await services.body.json(Body.self, from: request).xid)
            let released = try await services.store.releaseXID(
                conversationID: conversation.id, xid: xid, by: Actor(organiser))
            return Response.json(["released": released])
        }
        router.put("/api/v1/conversations/{slug}/members") { request, context in
            let organiser = try context.requireOrganiser()
            let conversation = try await services.conversation(context)
            struct Body: Decodable {
                let email: String
                let role: String
            }
            let body = try await services.body.json(Body.self, from: request)
            guard let (member, _) = try await services.store.organiserCredentials(email: body.email) else {
                throw CharterError.notFound("Organiser")
            }
            let role: ConversationRole?
            switch body.role {
            case "owner": role = .owner
            case "moderator": role = .moderator
            case "none": role = nil
            default:
                throw CharterError.invalid(field: "role", message: "role must be owner, moderator or none")
            }
            try await services.store.setMembership(
                conversationID: conversation.id, organiserID: member.id, role: role, by: Actor(organiser))
            struct Member: Encodable {
                let email: String
                let role: String
            }
            let members = try await services.store.members(conversationID: conversation.id).map {
                Member(email: $0.0.email, role: $0.1.rawValue)
            }
            return Response.json(["members": members])
        }
        router.get("/api/v1/conversations/{slug}/statements") { request, context in
            _ = try context.requireOrganiser()
            let conversation = try await services.conversation(context)
            let page = try await services.store.statements(
                conversationID: conversation.id, filter: try StatementFilter(query: request.query))
            return Response.json(
                API.PageBody(
                    items: page.items.map(API.StatementFull.init), total: page.total, offset: page.offset,
                    limit: page.limit))
        }
        router.post("/api/v1/conversations/{slug}/seeds") { request, context in
            let organiser = try context.requireOrganiser()
            let conversation = try await services.conversation(context)
            let texts: [String]
            if request.headers[.contentType]?.lowercased().hasPrefix("text/plain") == true {
                texts = SeedText.lines(try await services.body.text(request))
            } else {
                texts = try await services.body.json(API.SeedRequest.self, from: request).statements
            }
            guard !texts.isEmpty else {
                throw CharterError.invalid(field: "statements", message: "Send at least one statement.")
            }
            let result = try await services.store.addSeedStatements(
                conversationID: conversation.id, texts: texts, by: Actor(organiser))
            return Response.json(
                API.SeedResponse(result), status: result.added.isEmpty ? .unprocessableContent : .created)
        }
        router.post("/api/v1/conversations/{slug}/moderation") { request, context in
            let organiser = try context.requireOrganiser()
            let conversation = try await services.conversation(context)
            let body = try await services.body.json(API.ModerationRequest.self, from: request)
            let action = try ModerationAction(name: body.action, reason: body.reason)
            let moderated = try await services.store.moderate(
                statementIDs: body.statements, conversationID: conversation.id, action: action, by: Actor(organiser))
            services.analysis.conversationChanged(conversation.id)
            return Response.json(["statements": moderated.map(API.StatementFull.init)])
        }
        router.get("/api/v1/conversations/{slug}/audit") { request, context in
            _ = try context.requireOrganiser()
            let conversation = try await services.conversation(context)
            return try await audit(request, conversationID: conversation.id)
        }
        router.get("/api/v1/conversations/{slug}/participants/flagged") { _, context in
            _ = try context.requireOrganiser()
            let conversation = try await services.conversation(context)
            struct Row: Encodable {
                let id: Int64
                let xid: String?
                let reasons: [String]
                let fastVotes: Int
                let votes: Int
                let flaggedAt: Date?
            }
            let rows = try await ParticipantFlagging.flags(conversationID: conversation.id, store: services.store).map {
                Row(
                    id: $0.participant.id, xid: $0.participant.xid, reasons: $0.reasons.map(\.rawValue),
                    fastVotes: $0.fastVotes ?? 0, votes: $0.votes, flaggedAt: $0.flaggedAt)
            }
            return Response.json(["participants": rows])
        }
        router.get("/api/v1/audit") { request, context in
            try services.requireAdmin(try context.requireOrganiser())
            return try await audit(request, conversationID: nil)
        }
        router.get("/api/v1/openapi.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: .init(string: openAPIDocument)))
        }
    }

    private func audit(_ request: Request, conversationID: Int64?) async throws -> Response {
        let query = request.query
        let page = try await services.store.auditLog(
            conversationID: conversationID, offset: try query.integer("offset") ?? 0,
            limit: try query.integer("limit", in: 1...500) ?? 50)
        return Response.json(
            API.PageBody(
                items: page.items.map(API.AuditBody.init), total: page.total, offset: page.offset, limit: page.limit))
    }
}

enum SeedText {
    /// One statement per non-blank line, as pasted or uploaded.
    static func lines(_ text: String) -> [String] {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

extension StatementFilter {
    init(query: Form) throws {
        self.init()
        if let raw = query["moderation"], !raw.isEmpty, raw != "all" {
            guard let state = ModerationState(rawValue: raw) else {
                throw AppError.badRequest("moderation must be pending, accepted, rejected or all.")
            }
            moderation = state
        }
        isMeta = try query.boolean("meta")
        isSeed = try query.boolean("seed")
        search = query["q"]
        offset = try query.integer("offset") ?? 0
        limit = try query.integer("limit", in: 1...500) ?? 50
    }
}
