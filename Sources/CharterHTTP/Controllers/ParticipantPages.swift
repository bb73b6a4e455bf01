import CharterCompiler
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
        /// What the participant reads: the statement, or its translation into the page's language.
        let text: String
        /// The language of `text`, for the element's `lang` (screen readers switch voice).
        let lang: String
        let translation: TranslationNote?
    }

    /// Shown with a translation: that it is one, and the original one tap away (no JavaScript).
    struct TranslationNote {
        let marker: String
        let original: String
        let originalLang: String
    }

    struct Choice {
        let value: String
        let label: String
    }

    struct LastVoteView {
        let statementID: Int64
        let text: String
        let lang: String
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
        /// Once the participant has voted, the introduction folds away (a phone shows the
        /// statement and its buttons without scrolling).
        let hasVoted: Bool
        /// The results page, once this participant may read it (or anyone may): linked from the
        /// "you have voted on every statement" and the closed sections.
        let resultsLink: String?
        let completionCode: String?
        let lastVote: LastVoteView?
        let submissionsAllowed: Bool
        let canSubmit: Bool
        let votesNeeded: Int
        let maxLength: Int
        let notice: String?
        let error: String?
        /// A refused statement's message again beside the kept text, which a phone shows far
        /// below the top of the page.
        let submitError: String?
        let draft: String
        let submitLabel: String
        let votesNeededText: String
        /// The demographic questions when they are asked now (in place of the statement), and
        /// the participant's own answers with the form that deletes them.
        let demographics: ParticipantDemographics.View?
        let askingDemographics: Bool
        let t: [String: String]
    }

    static func label(_ value: VoteValue, in language: Language) -> String {
        switch value {
        case .agree: language.text("vote_agree")
        case .disagree: language.text("vote_disagree")
        case .pass: language.text("vote_pass")
        }
    }

    /// The `done=` values a redirect names, and the catalogue key of the notice each shows.
    static let notices = [
        "vote": "notice_vote",
        "changed": "notice_changed",
        "statement": "notice_statement",
        "statement-pending": "notice_statement_pending",
        "demographics": "notice_demographics",
        "demographics-skipped": "notice_demographics_skipped",
        "demographics-deleted": "notice_demographics_deleted",
    ]

    @Sendable func show(_ request: Request, context: AppRequestContext) async throws -> Response {
        let conversation = try await services.conversation(context)
        let resolved = try await services.identities.forPage(
            request, conversation: conversation, xid: request.query["xid"], sig: request.query["sig"])
        if let created = resolved.createdParticipant {
            try services.limitNewParticipant(ip: context.remoteIP)
            await services.recordOrigin(participantID: created, ip: context.remoteIP)
        }
        let language = services.language(request, conversation: conversation)
        let notice = request.query["done"].flatMap { Self.notices[$0] }.map { language.text($0) }
        var response = try await render(conversation, resolved, language: language, notice: notice)
        services.rememberLanguage(request, language, in: &response)
        return response
    }

    private func render(
        _ conversation: Conversation, _ resolved: ParticipantIdentityResolver.Resolved, language: Language,
        notice: String? = nil, error: AppError? = nil, draft: String = ""
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
            let shown = try await statementView(statement, in: conversation, language: language)
            lastVote = LastVoteView(
                statementID: statement.id, text: shown.text, lang: shown.lang,
                valueLabel: Self.label(vote.value, in: language),
                choices: VoteValue.allCases.filter { $0 != vote.value }.map {
                    Choice(value: $0.name, label: Self.label($0, in: language))
                })
        }
        let settings = conversation.settings
        let votesNeeded = max(0, settings.minVotesBeforeSubmit - progress.voted)
        var completionCode: String?
        if let threshold = settings.completionThreshold, progress.voted >= threshold {
            completionCode = settings.completionCode
        }
        var shown: StatementView?
        if let next { shown = try await statementView(next, in: conversation, language: language) }
        let base = "/c/\(conversation.slug)"
        let demographics = try await ParticipantDemographics(services: services).view(
            conversation: conversation, participantID: participant?.id, voted: progress.voted, closed: closed,
            language: language.code, t: language.texts)
        let message = error.map {
            language.message(for: $0, statementText: draft, maxLength: settings.maxStatementLength)
        }
        let view = PageView(
            slug: conversation.slug, title: settings.title, question: settings.question,
            description: settings.description.isEmpty ? nil : settings.description,
            voteAction: "\(base)/vote", statementAction: "\(base)/statements", xid: resolved.xid, sig: resolved.sig,
            csrf: resolved.csrf,
            closed: closed, statement: shown,
            progressVoted: progress.voted, progressTotal: progress.total,
            progressText: language.text(
                "progress_text", ["voted": String(progress.voted), "total": String(progress.total)]),
            hasVoted: progress.voted > 0,
            resultsLink: progress.voted > 0 || settings.resultsPublic
                ? ParticipantPages.link("\(base)/results", Self.identityFields(resolved)) : nil,
            completionCode: completionCode, lastVote: lastVote,
            submissionsAllowed: settings.participantStatementsAllowed, canSubmit: votesNeeded == 0,
            votesNeeded: votesNeeded, maxLength: settings.maxStatementLength, notice: notice,
            error: message,
            submitError: draft.isEmpty ? nil : message,
            draft: draft,
            submitLabel: language.text("submit_label", ["max": String(settings.maxStatementLength)]),
            votesNeededText: language.count("votes_needed", votesNeeded), demographics: demographics,
            askingDemographics: demographics?.ask != nil, t: language.texts)
        var response = services.views.page(
            title: settings.title, view, status: error?.status ?? .ok, language: language,
            languageSwitch: services.views.languageSwitch(
                language, action: base, hidden: Self.identityFields(resolved)))
        if let cookie = resolved.newCookie { response.setCookie(cookie) }
        return response
    }

    /// A statement as the page shows it: the translation into the page's language when the
    /// statement is written in another and an organiser translated it, else the original; each
    /// with its language. Votes go to the statement's id either way.
    func statementView(_ statement: Statement, in conversation: Conversation, language: Language) async throws
        -> StatementView
    {
        let own = statement.language(in: conversation)
        guard own != language.code,
            let translation = try await services.store.translations(statementID: statement.id).first(where: {
                $0.language == language.code
            })
        else { return StatementView(id: statement.id, text: statement.text, lang: own, translation: nil) }
        return StatementView(
            id: statement.id, text: translation.text, lang: translation.language,
            translation: TranslationNote(
                marker: language.text("translated_from", ["language": services.views.languageName(own, in: language)]),
                original: statement.text, originalLang: own))
    }

    /// The participant's xid and signature, which a form back to the page must carry on.
    static func identityFields(_ resolved: ParticipantIdentityResolver.Resolved) -> [Views.HiddenField] {
        var fields: [Views.HiddenField] = []
        if let xid = resolved.xid { fields.append(.init(name: "xid", value: xid)) }
        if let sig = resolved.sig { fields.append(.init(name: "sig", value: sig)) }
        return fields
    }

    /// Post/Redirect/Get back to the conversation page, keeping the participant's xid and signature.
    static func redirect(_ conversation: Conversation, _ resolved: ParticipantIdentityResolver.Resolved, done: String)
        -> Response
    {
        // `#statement`: the browser lands on the confirmation, the statement and its buttons, not
        // on the introduction above them (issue 15: voting on a phone without scrolling).
        .seeOther(
            link("/c/\(conversation.slug)", identityFields(resolved) + [.init(name: "done", value: done)])
                + "#statement")
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
            return try await render(
                conversation, resolved, language: services.language(request, conversation: conversation),
                error: AppError(error), draft: form["text"] ?? "")
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
                return Self.redirect(conversation, resolved, done: "vote")
            }
            services.metrics.votes.increment()
            services.analysis.conversationChanged(conversation.id)
            if isNew { await services.recordOrigin(participantID: receipt.participant.id, ip: context.remoteIP) }
            if case .changed = receipt.outcome {
                return Self.redirect(conversation, resolved, done: "changed")
            }
            return Self.redirect(conversation, resolved, done: "vote")
        }
    }

    @Sendable func submit(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await perform(request, context: context) { conversation, resolved, form in
            let text = try form.required("text")
            if let confirmation = try await lookAlikesPage(
                request, conversation, resolved, text: text, anyway: form["confirm"] == "anyway")
            {
                return confirmation
            }
            do {
                try services.limitStatement(
                    identity: resolved.identity, conversationID: conversation.id, ip: context.remoteIP)
            } catch let limited as AppError where limited.status == .tooManyRequests {
                // The typed text stays in the box, with when to try again, on the
                // conversation's own page.
                var response = try await render(
                    conversation, resolved, language: services.language(request, conversation: conversation),
                    error: limited, draft: text)
                if let retry = limited.headers[.retryAfter] { response.headers[.retryAfter] = retry }
                return response
            }
            let statement: Statement
            do {
                // Written in the page's language: what the author read and wrote in.
                statement = try await services.store.submitStatement(
                    conversationID: conversation.id, participant: resolved.identity, text: text,
                    language: services.language(request, conversation: conversation).code, at: Date())
            } catch {
                services.refundStatement(
                    identity: resolved.identity, conversationID: conversation.id, ip: context.remoteIP)
                throw error
            }
            services.metrics.statements.increment()
            services.analysis.conversationChanged(conversation.id)
            let shown = conversation.shows(statement)
            return Self.redirect(conversation, resolved, done: shown ? "statement" : "statement-pending")
        }
    }

    struct LookAlikeView {
        let id: Int64
        /// In the participant's language when an organiser translated it.
        let text: String
        let lang: String
        /// Said instead of the vote buttons when the participant voted on it already.
        let votedLabel: String?
    }

    struct ConfirmationView: PageTemplate {
        static let template = "statement_confirm"
        let identical: Bool
        let lookAlikes: [LookAlikeView]
        let draft: String
        let voteAction: String
        let statementAction: String
        let backLink: String
        let csrf: String
        let hidden: [Views.HiddenField]
        let submitLabel: String
        let maxLength: Int
        let t: [String: String]
    }

    /// Before a statement is stored, the ones much like it (the compiler's near-duplicate
    /// measure, case and punctuation set aside) are shown, to vote on instead; "submit anyway"
    /// skips this unless one says the same words. Nil when there is nothing to show. Costs no
    /// rate-limit token.
    private func lookAlikesPage(
        _ request: Request, _ conversation: Conversation, _ resolved: ParticipantIdentityResolver.Resolved,
        text: String, anyway: Bool
    ) async throws -> Response? {
        let settings = conversation.settings
        guard settings.participantStatementsAllowed,
            StatementText.problem(text, maxLength: settings.maxStatementLength) == nil
        else { return nil }
        let store = services.store
        let visible = try await store.visibleStatements(conversationID: conversation.id)
        let found = SimilarStatements.lookAlikes(of: text, among: visible.map { (id: $0.id, text: $0.text) })
        let identical = found.contains { $0.identical }
        guard !found.isEmpty, !anyway || identical else { return nil }
        let language = services.language(request, conversation: conversation)
        // Which look-alikes the participant already voted on (the page offers no second vote).
        var voted: Set<Int64> = []
        if let participant = try await store.existingParticipant(
            conversationID: conversation.id, identity: resolved.identity)
        {
            let unvoted = try await store.unvotedStatements(
                conversationID: conversation.id, participantID: participant.id)
            voted = Set(found.map(\.id)).subtracting(unvoted.map(\.id))
        }
        let byID = Dictionary(visible.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var shownTexts: [Int64: StatementView] = [:]
        for match in found {
            if let statement = byID[match.id] {
                shownTexts[match.id] = try await statementView(statement, in: conversation, language: language)
            }
        }
        let base = "/c/\(conversation.slug)"
        let view = ConfirmationView(
            identical: identical,
            lookAlikes: found.compactMap { match in
                byID[match.id].map { statement in
                    LookAlikeView(
                        id: statement.id, text: shownTexts[statement.id]?.text ?? statement.text,
                        lang: shownTexts[statement.id]?.lang ?? statement.language(in: conversation),
                        votedLabel: voted.contains(statement.id) ? language.text("confirm_voted") : nil)
                }
            },
            draft: text, voteAction: "\(base)/vote", statementAction: "\(base)/statements",
            backLink: Self.link(base, Self.identityFields(resolved)), csrf: resolved.csrf,
            hidden: Self.identityFields(resolved),
            submitLabel: language.text("submit_label", ["max": String(settings.maxStatementLength)]),
            maxLength: settings.maxStatementLength, t: language.texts)
        return services.views.page(title: language.text("confirm_title"), view, language: language)
    }

    /// A participant page's address with these query values (their xid and signature first), each
    /// percent-encoded but for RFC 3986's unreserved characters.
    static func link(_ path: String, _ fields: [Views.HiddenField]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let query = fields.compactMap { field in
            field.value.addingPercentEncoding(withAllowedCharacters: allowed).map { "\(field.name)=\($0)" }
        }
        return query.isEmpty ? path : "\(path)?\(query.joined(separator: "&"))"
    }
}
