import CharterDomain
import CharterServices
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird

/// The organiser half of `/api/v1`: conversations, seeding, moderation and the audit log,
/// behind an API token (`Authorization: Bearer co_…`, made by `charter admin create-token`).
struct OrganiserAPI: Sendable {
    let services: AppServices
    let openAPIDocument: String

    /// Anyone: the API's own description.
    var openRoutes: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .get("openapi.json", use: openAPI)
    }

    /// Any organiser: the conversations they may see, and a new one.
    var organiserRoutes: RouteCollection<OrganiserContext> {
        RouteCollection(context: OrganiserContext.self)
            .get("conversations", use: conversations)
            .post("conversations", use: createConversation)
    }

    /// The instance's admins read the whole audit log (added behind `InstanceAdminMiddleware`).
    var instanceAdminRoutes: RouteCollection<OrganiserContext> {
        RouteCollection(context: OrganiserContext.self)
            .get("audit", use: instanceAudit)
    }

    /// A conversation's moderators (and owners): read it and moderate it.
    var moderatorRoutes: RouteCollection<ConversationContext> {
        RouteCollection(context: ConversationContext.self)
            .get("conversations/{slug}/statements", use: statements)
            .post("conversations/{slug}/moderation", use: moderate)
            .get("conversations/{slug}/audit", use: audit)
            .get("conversations/{slug}/participants/flagged", use: flaggedParticipants)
            .put("conversations/{slug}/statements/{statement}/language", use: setStatementLanguage)
            .get("conversations/{slug}/statements/{statement}/translations", use: translations)
            .put("conversations/{slug}/statements/{statement}/translations/{language}", use: setTranslation)
            .delete("conversations/{slug}/statements/{statement}/translations/{language}", use: deleteTranslation)
    }

    /// A conversation's owners: its settings, seeds, panel ids and members.
    var ownerRoutes: RouteCollection<ConversationContext> {
        RouteCollection(context: ConversationContext.self)
            .patch("conversations/{slug}", use: updateConversation)
            .put("conversations/{slug}/xids", use: setAllowList)
            .post("conversations/{slug}/xids/release", use: releaseXID)
            .put("conversations/{slug}/members", use: setMember)
            .post("conversations/{slug}/seeds", use: addSeeds)
    }

    @Sendable func openAPI(_ request: Request, context: AppRequestContext) async throws -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: .init(string: openAPIDocument)))
    }

    @Sendable func conversations(_ request: Request, context: OrganiserContext) async throws -> Response {
        let organiser = context.organiser
        let visible = try await services.visibleConversationIDs(organiser)
        let all = try await services.store.conversations().filter { visible?.contains($0.id) ?? true }
        var bodies: [API.ConversationBody] = []
        for conversation in all {
            let role = try await services.store.role(of: organiser, conversationID: conversation.id)
            bodies.append(services.organiserBody(conversation, owner: role == .owner))
        }
        return Response.json(["conversations": bodies])
    }

    @Sendable func createConversation(_ request: Request, context: OrganiserContext) async throws -> Response {
        let patch = try await services.body.json(API.ConversationPatch.self, from: request)
        let created = try await services.store.createConversation(try patch.creating(), by: Actor(context.organiser))
        return Response.json(services.organiserBody(created, owner: true), status: .created)
    }

    @Sendable func instanceAudit(_ request: Request, context: OrganiserContext) async throws -> Response {
        try await audit(request, conversationID: nil)
    }

    @Sendable func updateConversation(_ request: Request, context: ConversationContext) async throws -> Response {
        let patch = try await services.body.json(API.ConversationPatch.self, from: request)
        let updated = try await services.store.updateConversation(
            id: context.conversation.id, try patch.applied(to: context.conversation.settings),
            by: Actor(context.organiser))
        return Response.json(services.organiserBody(updated, owner: true))
    }

    @Sendable func setAllowList(_ request: Request, context: ConversationContext) async throws -> Response {
        struct Body: Decodable {
            let xids: [String]
        }
        let body = try await services.body.json(Body.self, from: request)
        guard body.xids.count <= 100_000 else {
            throw CharterError.invalid(field: "xids", message: "An allow-list holds at most 100000 panel ids.")
        }
        let xids = try body.xids.map { try ParticipantIdentity.validatedXID($0) }
        let conversationID = context.conversation.id
        try await services.store.setAllowedXIDs(
            conversationID: conversationID, xids: xids, by: Actor(context.organiser))
        let count = try await services.store.allowedXIDCount(conversationID: conversationID)
        return Response.json(["allowed": count])
    }

    @Sendable func releaseXID(_ request: Request, context: ConversationContext) async throws -> Response {
        struct Body: Decodable {
            let xid: String
        }
        let xid = try ParticipantIdentity.validatedXID(try await services.body.json(Body.self, from: request).xid)
        let released = try await services.store.releaseXID(
            conversationID: context.conversation.id, xid: xid, by: Actor(context.organiser))
        return Response.json(["released": released])
    }

    @Sendable func setMember(_ request: Request, context: ConversationContext) async throws -> Response {
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
        let conversationID = context.conversation.id
        try await services.store.setMembership(
            conversationID: conversationID, organiserID: member.id, role: role, by: Actor(context.organiser))
        struct Member: Encodable {
            let email: String
            let role: String
        }
        let members = try await services.store.members(conversationID: conversationID).map {
            Member(email: $0.0.email, role: $0.1.rawValue)
        }
        return Response.json(["members": members])
    }

    @Sendable func statements(_ request: Request, context: ConversationContext) async throws -> Response {
        let conversation = context.conversation
        let page = try await services.store.statements(
            conversationID: conversation.id, filter: try StatementFilter(query: request.query))
        let translations = try await services.store.translations(conversationID: conversation.id)
        return Response.json(
            API.PageBody(
                items: page.items.map {
                    API.StatementFull($0, in: conversation, translations: translations[$0.id] ?? [])
                }, total: page.total, offset: page.offset, limit: page.limit))
    }

    @Sendable func addSeeds(_ request: Request, context: ConversationContext) async throws -> Response {
        let texts: [String]
        var language: String?
        if request.headers[.contentType]?.lowercased().hasPrefix("text/plain") == true {
            texts = SeedText.lines(try await services.body.text(request))
        } else {
            let body = try await services.body.json(API.SeedRequest.self, from: request)
            texts = body.statements
            language = try body.language.map { try APILanguage.validated($0) }
        }
        guard !texts.isEmpty else {
            throw CharterError.invalid(field: "statements", message: "Send at least one statement.")
        }
        let result = try await services.store.addSeedStatements(
            conversationID: context.conversation.id, texts: texts, language: language, by: Actor(context.organiser))
        return Response.json(
            API.SeedResponse(result, in: context.conversation),
            status: result.added.isEmpty ? .unprocessableContent : .created)
    }

    @Sendable func moderate(_ request: Request, context: ConversationContext) async throws -> Response {
        let body = try await services.body.json(API.ModerationRequest.self, from: request)
        let action = try ModerationAction(name: body.action, reason: body.reason)
        let conversationID = context.conversation.id
        let moderated = try await services.store.moderate(
            statementIDs: body.statements, conversationID: conversationID, action: action,
            by: Actor(context.organiser))
        services.analysis.conversationChanged(conversationID)
        return Response.json(["statements": moderated.map { API.StatementFull($0, in: context.conversation) }])
    }

    @Sendable func audit(_ request: Request, context: ConversationContext) async throws -> Response {
        try await audit(request, conversationID: context.conversation.id)
    }

    @Sendable func flaggedParticipants(_ request: Request, context: ConversationContext) async throws -> Response {
        struct Row: Encodable {
            let id: Int64
            let xid: String?
            let reasons: [String]
            let fastVotes: Int
            let votes: Int
            let flaggedAt: Date?
        }
        let flags = try await ParticipantFlagging.flags(conversationID: context.conversation.id, store: services.store)
        let rows = flags.map {
            Row(
                id: $0.participant.id, xid: $0.participant.xid, reasons: $0.reasons.map(\.rawValue),
                fastVotes: $0.fastVotes ?? 0, votes: $0.votes, flaggedAt: $0.flaggedAt)
        }
        return Response.json(["participants": rows])
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
