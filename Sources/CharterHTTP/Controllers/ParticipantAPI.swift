import CharterDomain
import CharterInput
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird

/// The participant half of `/api/v1`, for panel integrations and load tools. A participant
/// is registered once and then sends its token (`Authorization: Bearer cp_…`), an HMAC over
/// its id that is valid for its own conversation only.
struct ParticipantAPI: Sendable {
    static let tokenPrefix = "cp_"
    let services: AppServices

    /// Anyone may read an open conversation and join it; a participant's token votes and
    /// submits.
    var routes: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .get("conversations/{slug}", use: show)
            .post("conversations/{slug}/participants", use: register)
            .get("conversations/{slug}/next", use: next)
            .post("conversations/{slug}/votes", use: vote)
            .post("conversations/{slug}/statements", use: submit)
    }

    private func token(for participant: Participant, nonce: String = SecureToken.make()) -> String {
        let value = "\(participant.id)_\(nonce)"
        return Self.tokenPrefix + services.signer.sign(value, purpose: "participant:\(participant.conversationID)")
    }

    private func participantID(_ request: Request, conversation: Conversation) throws -> Int64 {
        guard let id = participantID(request, conversationID: conversation.id) else { throw Self.badToken }
        return id
    }

    private func participantID(_ request: Request, conversationID: Int64) -> Int64? {
        guard let token = request.bearerToken, token.hasPrefix(Self.tokenPrefix),
            let value = services.signer.verified(
                String(token.dropFirst(Self.tokenPrefix.count)), purpose: "participant:\(conversationID)")
        else { return nil }
        return value.split(separator: "_").first.flatMap { Int64($0) }
    }

    private static let badToken = AppError(
        .unauthorized, code: "unauthorized",
        message: "Send the participant token from POST /api/v1/conversations/{slug}/participants as a Bearer token.")

    @Sendable func register(_ request: Request, context: AppRequestContext) async throws -> Response {
        let conversation = try await services.conversation(context)
        let body = try await services.body.json(API.ParticipantRequest.self, from: request)
        guard conversation.isOpen(at: Date()) else { throw CharterError.conversationClosed }
        try services.limitNewParticipant(ip: context.remoteIP)
        let nonce = SecureToken.make()
        let participant: Participant
        if let rawXID = body.xid {
            let xid = try ParticipantIdentity.validatedXID(rawXID)
            try await services.identities.admit(xid: xid, sig: body.sig, conversation: conversation)
            if conversation.settings.xidPolicy.binds {
                // A registration binds the xid: a second one, from anyone, is refused until an
                // organiser releases it, so a hijack shows instead of passing silently.
                let binding = try await services.store.bindXID(
                    conversationID: conversation.id, xid: xid, binder: "api:\(nonce)")
                guard binding.held else { throw ParticipantIdentityResolver.xidInUse }
                participant = binding.participant
            } else {
                participant = try await services.store.participant(
                    conversationID: conversation.id, identity: .external(xid))
            }
        } else {
            participant = try await services.store.participant(
                conversationID: conversation.id, identity: .anonymous(nonce))
        }
        await services.recordOrigin(participantID: participant.id, ip: context.remoteIP)
        return Response.json(
            API.ParticipantCreated(
                participant: .init(id: participant.id, xid: participant.xid),
                token: token(for: participant, nonce: nonce)),
            status: .created)
    }

    @Sendable func show(_ request: Request, context: AppRequestContext) async throws -> Response {
        let conversation = try await services.conversation(context)
        let statements = try await services.store.visibleStatements(conversationID: conversation.id)
        return Response.json(
            API.ConversationWithStatements(
                conversation: .init(conversation, includeCode: context.organiser != nil),
                statements: statements.map { .init(id: $0.id, text: $0.text) }))
    }

    @Sendable func next(_ request: Request, context: AppRequestContext) async throws -> Response {
        let conversation = try await services.conversation(context)
        let participantID = try participantID(request, conversation: conversation)
        guard conversation.isOpen(at: Date()) else { throw CharterError.conversationClosed }
        let progress = try await services.store.progress(conversationID: conversation.id, participantID: participantID)
        guard
            let statement = try await services.nextStatement(
                conversationID: conversation.id, participantID: participantID, seedKey: "p:\(participantID)",
                voted: progress.voted)
        else { return Response(status: .noContent) }
        return Response.json(
            API.NextStatement(statement: .init(id: statement.id, text: statement.text), progress: progress))
    }

    /// The hot path: the conversation id comes from memory when the slug was seen before, so the
    /// vote's transaction is its only trip to the database.
    @Sendable func vote(_ request: Request, context: AppRequestContext) async throws -> Response {
        let slug = try context.parameters.require("slug")
        var (conversationID, remembered) = try await services.conversationID(slug: slug)
        var verified = participantID(request, conversationID: conversationID)
        if verified == nil, remembered {
            // The slug may have moved to another conversation since it was remembered.
            services.conversationIDs[slug] = nil
            (conversationID, remembered) = try await services.conversationID(slug: slug)
            verified = participantID(request, conversationID: conversationID)
        }
        guard let participantID = verified else { throw Self.badToken }
        let body = try await services.body.json(
            API.VoteRequest.self, from: request, plain: { API.VoteRequest(plainJSON: $0) })
        guard let value = VoteValue(name: body.vote) else {
            throw CharterError.invalid(field: "vote", message: "vote must be \"agree\", \"disagree\" or \"pass\"")
        }
        try services.limitVote(identity: .id(participantID), conversationID: conversationID, ip: context.remoteIP)
        let receipt: VoteReceipt
        do {
            receipt = try await services.store.castVote(
                conversationID: conversationID, slug: slug, participant: .id(participantID),
                statementID: body.statement, value: value, at: Date())
        } catch CharterError.notFound("Conversation") {
            services.conversationIDs[slug] = nil
            throw CharterError.notFound("Conversation")
        }
        let conversation = receipt.conversation
        services.metrics.votes.increment()
        services.analysis.conversationChanged(conversation.id)
        var changedFrom: String?
        if case .changed(let from) = receipt.outcome { changedFrom = from.name }
        var code: String?
        if let threshold = conversation.settings.completionThreshold, receipt.progress.voted >= threshold {
            code = conversation.settings.completionCode
        }
        let result = API.VoteResult(
            statement: body.statement, vote: value.name, changedFrom: changedFrom, progress: receipt.progress,
            completionCode: code)
        return Response.json(encoded: result.jsonBytes, status: changedFrom == nil ? .created : .ok)
    }

    @Sendable func submit(_ request: Request, context: AppRequestContext) async throws -> Response {
        let conversation = try await services.conversation(context)
        let participantID = try participantID(request, conversation: conversation)
        let body = try await services.body.json(API.StatementRequest.self, from: request)
        // The language the author names, else the one their client asks for among the pages' own.
        let language =
            try body.language.map { try APILanguage.validated($0) }
            ?? request.headers[.acceptLanguage].flatMap {
                AcceptLanguage.best($0, available: Set(services.views.catalogue.languages.keys))
            }
        try services.limitStatement(identity: .id(participantID), conversationID: conversation.id, ip: context.remoteIP)
        let statement: Statement
        do {
            statement = try await services.store.submitStatement(
                conversationID: conversation.id, participant: .id(participantID), text: body.text, language: language,
                at: Date())
        } catch {
            services.refundStatement(
                identity: .id(participantID), conversationID: conversation.id, ip: context.remoteIP)
            throw error
        }
        services.metrics.statements.increment()
        services.analysis.conversationChanged(conversation.id)
        return Response.json(API.StatementFull(statement, in: conversation), status: .created)
    }
}
