import CharterDomain
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird

/// The participant's plain-HTML pages: one statement at a time, votes and statements as form
/// posts answered with a redirect (Post/Redirect/Get), no JavaScript needed.
struct ParticipantPages: Sendable {
    let services: AppServices

    var routes: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .get("{slug}", use: show)
            .post("{slug}/vote", use: vote)
            .post("{slug}/statements", use: submit)
    }

    struct StatementView {
        let id: Int64
        let text: String
    }

    struct Choice {
        let value: String
        let label: String
    }

    struct LastVoteView {
        let statementID: Int64
        let text: String
        let valueLabel: String
        let choices: [Choice]
    }

    struct PageView: PageTemplate {
        static let template = "conversation"
        let slug: String
        let title: String
        let question: String
        let description: String?
        let voteAction: String
        let statementAction: String
        let xid: String?
        let sig: String?
        let csrf: String
        let closed: Bool
        let statement: StatementView?
        let progressVoted: Int
        let progressTotal: Int
        let progressText: String
        let completionCode: String?
        let lastVote: LastVoteView?
        let submissionsAllowed: Bool
        let canSubmit: Bool
        let votesNeeded: Int
        let maxLength: Int
        let notice: String?
        let error: String?
        let draft: String
    }

    static func label(_ value: VoteValue) -> String {
        switch value {
        case .agree: "Agree"
        case .disagree: "Disagree"
        case .pass: "Pass / unsure"
        }
    }

    static let notices = [
        "vote": "Vote recorded.",
        "changed": "Vote changed.",
        "statement": "Thank you — your statement was added.",
        "statement-pending": "Thank you — your statement was added and will be shown once a moderator accepts it.",
    ]

    @Sendable func show(_ request: Request, context: AppRequestContext) async throws -> Response {
        let conversation = try await services.conversation(context)
        let resolved = try await services.identities.forPage(
            request, conversation: conversation, xid: request.query["xid"], sig: request.query["sig"])
        if let created = resolved.createdParticipant {
            try services.limitNewParticipant(ip: context.remoteIP)
            await services.recordOrigin(participantID: created, ip: context.remoteIP)
        }
        let notice = request.query["done"].flatMap { Self.notices[$0] }
        return try await render(conversation, resolved, notice: notice)
    }

    private func render(
        _ conversation: Conversation, _ resolved: ParticipantIdentityResolver.Resolved, notice: String? = nil,
        error: AppError? = nil, draft: String = ""
    ) async throws -> Response {
        let store = services.store
        let participant = try await store.existingParticipant(
            conversationID: conversation.id, identity: resolved.identity)
        let closed = !conversation.isOpen(at: Date())
        let progress = try await store.progress(conversationID: conversation.id, participantID: participant?.id)
        let next = try await services.nextStatement(
            conversationID: conversation.id, participantID: participant?.id,
            seedKey: ParticipantIdentityResolver.limitKey(resolved.identity, conversationID: conversation.id),
            voted: progress.voted)
        var lastVote: LastVoteView?
        if let participant, !closed, let vote = try await store.lastVote(participantID: participant.id),
            let statement = try await store.statement(id: vote.statementID), conversation.shows(statement)
        {
            lastVote = LastVoteView(
                statementID: statement.id, text: statement.text, valueLabel: Self.label(vote.value),
                choices: VoteValue.allCases.filter { $0 != vote.value }.map {
                    Choice(value: $0.name, label: Self.label($0))
                })
        }
        let settings = conversation.settings
        let votesNeeded = max(0, settings.minVotesBeforeSubmit - progress.voted)
        var completionCode: String?
        if let threshold = settings.completionThreshold, progress.voted >= threshold {
            completionCode = settings.completionCode
        }
        let base = "/c/\(conversation.slug)"
        let view = PageView(
            slug: conversation.slug, title: settings.title, question: settings.question,
            description: settings.description.isEmpty ? nil : settings.description,
            voteAction: "\(base)/vote", statementAction: "\(base)/statements", xid: resolved.xid, sig: resolved.sig,
            csrf: resolved.csrf,
            closed: closed, statement: next.map { StatementView(id: $0.id, text: $0.text) },
            progressVoted: progress.voted, progressTotal: progress.total,
            progressText: "\(progress.voted) of \(progress.total) statements",
            completionCode: completionCode, lastVote: lastVote,
            submissionsAllowed: settings.participantStatementsAllowed, canSubmit: votesNeeded == 0,
            votesNeeded: votesNeeded, maxLength: settings.maxStatementLength, notice: notice,
            error: error?.message, draft: draft)
        var response = services.views.page(title: settings.title, view, status: error?.status ?? .ok)
        if let cookie = resolved.newCookie { response.setCookie(cookie) }
        return response
    }

    private func redirect(_ conversation: Conversation, _ resolved: ParticipantIdentityResolver.Resolved, done: String)
        -> Response
    {
        var query = "done=\(done)"
        if let sig = resolved.sig, let encoded = sig.addingPercentEncoding(withAllowedCharacters: .alphanumerics) {
            query = "sig=\(encoded)&" + query
        }
        if let xid = resolved.xid, let encoded = xid.addingPercentEncoding(withAllowedCharacters: .alphanumerics) {
            query = "xid=\(encoded)&" + query
        }
        return .seeOther("/c/\(conversation.slug)?\(query)")
    }

    /// Runs a form action; a refusal the participant can act on re-renders the page with the
    /// message and the right status instead of an error page.
    private func perform(
        _ request: Request, context: AppRequestContext,
        action: (Conversation, ParticipantIdentityResolver.Resolved, Form) async throws -> Response
    ) async throws -> Response {
        let conversation = try await services.conversation(context)
        let form = try await services.body.form(request)
        let resolved = try await services.identities.forForm(request, form: form, conversation: conversation)
        do {
            return try await action(conversation, resolved, form)
        } catch let error as CharterError {
            return try await render(conversation, resolved, error: AppError(error), draft: form["text"] ?? "")
        }
    }

    @Sendable func vote(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await perform(request, context: context) { conversation, resolved, form in
            guard let statementID = Int64(try form.required("statement")) else {
                throw AppError.badRequest("The statement id must be a number.")
            }
            guard let value = VoteValue(name: try form.required("vote")) else {
                throw AppError.badRequest("The vote must be agree, disagree or pass.")
            }
            try services.limitVote(identity: resolved.identity, conversationID: conversation.id, ip: context.remoteIP)
            let isNew =
                try await services.store.existingParticipant(
                    conversationID: conversation.id, identity: resolved.identity) == nil
            if isNew { try services.limitNewParticipant(ip: context.remoteIP) }
            let receipt: VoteReceipt
            do {
                receipt = try await services.store.castVote(
                    conversationID: conversation.id, participant: resolved.identity, statementID: statementID,
                    value: value, at: Date())
            } catch CharterError.duplicateVote {
                // A second tap on the same button (a slow phone): the vote stands, once in the
                // log; answer as the first tap was answered.
                return redirect(conversation, resolved, done: "vote")
            }
            services.metrics.votes.increment()
            services.analysis.conversationChanged(conversation.id)
            if isNew { await services.recordOrigin(participantID: receipt.participant.id, ip: context.remoteIP) }
            if case .changed = receipt.outcome {
                return redirect(conversation, resolved, done: "changed")
            }
            return redirect(conversation, resolved, done: "vote")
        }
    }

    @Sendable func submit(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await perform(request, context: context) { conversation, resolved, form in
            let text = try form.required("text")
            do {
                try services.limitStatement(
                    identity: resolved.identity, conversationID: conversation.id, ip: context.remoteIP)
            } catch let limited as AppError where limited.status == .tooManyRequests {
                // The typed text stays in the box, with when to try again, on the
                // conversation's own page.
                var response = try await render(conversation, resolved, error: limited, draft: text)
                if let retry = limited.headers[.retryAfter] { response.headers[.retryAfter] = retry }
                return response
            }
            let statement: Statement
            do {
                statement = try await services.store.submitStatement(
                    conversationID: conversation.id, participant: resolved.identity, text: text, at: Date())
            } catch {
                services.refundStatement(
                    identity: resolved.identity, conversationID: conversation.id, ip: context.remoteIP)
                throw error
            }
            services.metrics.statements.increment()
            services.analysis.conversationChanged(conversation.id)
            let shown = conversation.shows(statement)
            return redirect(conversation, resolved, done: shown ? "statement" : "statement-pending")
        }
    }
}
