import CharterDomain
import CharterServices
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird

/// The organiser's HTML pages under `/admin`: sign-in, conversations, seeding, the moderation
/// queue and the audit log. Every form carries a CSRF token bound to the session.
struct AdminPages: Sendable {
    let services: AppServices

    /// Anyone: the sign-in page and form.
    var openPages: RouteCollection<AppRequestContext> {
        RouteCollection(context: AppRequestContext.self)
            .get("login", use: loginPage)
            .post("login", use: login)
    }

    /// Any signed-in organiser: sign out, their conversations, a new one, the audit log
    /// (theirs by conversation, the whole log for an admin).
    var organiserPages: RouteCollection<AdminContext> {
        RouteCollection(context: AdminContext.self)
            .post("logout", use: logout)
            .get("", use: conversations)
            .get("conversations/new", use: newConversation)
            .post("conversations", use: createConversation)
            .get("audit", use: audit)
            .get("tokens", use: tokensPage)
            .post("tokens", use: createToken)
    }

    /// A conversation's moderators: its page and the moderation queue.
    var moderatorPages: RouteCollection<AdminConversationContext> {
        RouteCollection(context: AdminConversationContext.self)
            .get("conversations/{slug}", use: conversation)
            .get("conversations/{slug}/moderation", use: moderationPage)
            .post("conversations/{slug}/moderation", use: moderate)
            .post("conversations/{slug}/moderation/reword", use: reword)
    }

    /// A conversation's owners: its settings and seeds.
    var ownerPages: RouteCollection<AdminConversationContext> {
        RouteCollection(context: AdminConversationContext.self)
            .post("conversations/{slug}", use: saveSettings)
            .post("conversations/{slug}/seeds", use: addSeeds)
    }

    @Sendable func logout(_ request: Request, context: AdminContext) async throws -> Response {
        _ = try await context.submittedForm(request, reader: services.body)
        try await services.store.deleteSession(tokenHash: SecureToken.digest(context.session.token))
        var response = Response.seeOther("/admin/login")
        response.setCookie(sessionCookie(value: "", maxAge: 0))
        return response
    }

    @Sendable func conversations(_ request: Request, context: AdminContext) async throws -> Response {
        struct Row {
            let slug, title, state: String
        }
        struct View: PageTemplate {
            static let template = "admin_conversations"
            let organiserEmail, csrf: String
            let conversations: [Row]
        }
        let visible = try await services.visibleConversationIDs(context.organiser)
        let rows = try await services.store.conversations().filter { visible?.contains($0.id) ?? true }.map {
            Row(slug: $0.slug, title: $0.settings.title, state: $0.isOpen(at: Date()) ? "open" : "closed")
        }
        return services.views.page(
            title: "Conversations",
            View(organiserEmail: context.organiser.email, csrf: context.csrf, conversations: rows), admin: true)
    }

    @Sendable func newConversation(_ request: Request, context: AdminContext) async throws -> Response {
        services.views.page(
            title: "New conversation",
            NewView(
                organiserEmail: context.organiser.email, csrf: context.csrf, formAction: "/admin/conversations",
                submitLabel: "Create conversation",
                form: SettingsForm(ConversationSettings(slug: "", title: "", question: "")), error: nil, seeds: ""),
            admin: true)
    }

    @Sendable func createConversation(_ request: Request, context: AdminContext) async throws -> Response {
        let form = try await context.submittedForm(request, reader: services.body)
        do {
            let settings = try SettingsForm.parse(
                form, base: ConversationSettings(slug: "", title: "", question: ""))
            let created = try await services.store.createConversation(settings, by: Actor(context.organiser))
            let seeds = SeedText.lines(form["statements"] ?? "")
            guard !seeds.isEmpty else { return Response.seeOther("/admin/conversations/\(created.slug)?done=created") }
            let result = try await services.store.addSeedStatements(
                conversationID: created.id, texts: seeds, by: Actor(context.organiser))
            if result.skipped.isEmpty {
                return Response.seeOther("/admin/conversations/\(created.slug)?done=created-seeded")
            }
            // The conversation exists now: its own page shows the lines that were not added, in
            // the seed box, to fix and add again.
            return try await conversationPage(
                conversation: created, organiser: context.organiser, csrf: context.csrf, isOwner: true,
                notice: "Conversation created; \(Self.statementCount(result.added.count)) added, "
                    + "\(Self.statementCount(result.skipped.count)) not: fix them below and add them again.",
                skipped: result.skipped)
        } catch let error as CharterError {
            let draft =
                (try? SettingsForm.parse(form, base: ConversationSettings(slug: "", title: "", question: "")))
            return services.views.page(
                title: "New conversation",
                NewView(
                    organiserEmail: context.organiser.email, csrf: context.csrf,
                    formAction: "/admin/conversations",
                    submitLabel: "Create conversation",
                    form: SettingsForm(
                        draft
                            ?? ConversationSettings(
                                slug: form["slug"] ?? "", title: form["title"] ?? "",
                                question: form["question"] ?? "")),
                    error: error.message, seeds: form["statements"] ?? ""),
                status: AppError(error).status, admin: true)
        }
    }

    @Sendable func conversation(_ request: Request, context: AdminConversationContext) async throws -> Response {
        try await conversationPage(
            context, notice: request.query["done"].flatMap { Self.notices[$0] },
            flaggedPage: try request.query.integer("flagged_page") ?? 1)
    }

    @Sendable func saveSettings(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let form = try await context.submittedForm(request, reader: services.body)
        let conversation = context.conversation
        do {
            let settings = try SettingsForm.parse(form, base: conversation.settings)
            let updated = try await services.store.updateConversation(
                id: conversation.id, settings, by: Actor(context.organiser))
            return Response.seeOther("/admin/conversations/\(updated.slug)?done=saved")
        } catch let error as CharterError {
            return try await conversationPage(context, error: AppError(error))
        }
    }

    @Sendable func addSeeds(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let form = try await context.submittedForm(request, reader: services.body)
        let conversation = context.conversation
        let texts = SeedText.lines(try form.required("statements"))
        guard !texts.isEmpty else {
            return try await conversationPage(
                context,
                error: AppError(CharterError.invalid(field: "statements", message: "Enter at least one statement.")))
        }
        let result = try await services.store.addSeedStatements(
            conversationID: conversation.id, texts: texts, by: Actor(context.organiser))
        if result.skipped.isEmpty {
            return Response.seeOther("/admin/conversations/\(conversation.slug)?done=seeded")
        }
        return try await conversationPage(
            context, notice: "\(Self.statementCount(result.added.count)) added.", skipped: result.skipped,
            status: result.added.isEmpty ? .unprocessableContent : .ok)
    }

    @Sendable func moderate(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let form = try await context.submittedForm(request, reader: services.body)
        let conversation = context.conversation
        let ids: [Int64]
        let action: ModerationAction
        if let single = form["single"] {
            let parts = single.split(separator: ":")
            guard parts.count == 2, let id = Int64(parts[1]) else {
                throw AppError.badRequest("The moderation button is malformed.")
            }
            ids = [id]
            action = try ModerationAction(name: String(parts[0]), reason: form["reason"])
        } else {
            ids = try form.all("statement").map {
                guard let id = Int64($0) else { throw AppError.badRequest("Statement ids must be numbers.") }
                return id
            }
            action = try ModerationAction(name: try form.required("action"), reason: form["reason"])
        }
        let moderated = try await services.store.moderate(
            statementIDs: ids, conversationID: conversation.id, action: action, by: Actor(context.organiser))
        services.analysis.conversationChanged(conversation.id)
        let back = Form(urlEncoded: form["return"] ?? "") ?? Form()
        return Response.seeOther(
            "/admin/conversations/\(conversation.slug)/moderation?\(Self.returnQuery(back, done: "moderated-\(moderated.count)"))"
        )
    }

    @Sendable func audit(_ request: Request, context: AdminContext) async throws -> Response {
        try await auditPage(request, organiser: context.organiser, csrf: context.csrf)
    }

    static let notices = [
        "created": "Conversation created.", "saved": "Settings saved.", "seeded": "Statements added.",
        "created-seeded": "Conversation created with its seed statements.",
        "released": "The panel id is released: the next browser to use it keeps it.",
        "not-bound": "That panel id was not held by any browser.", "allow-list": "Allow-list saved.",
        "member": "Role saved.",
    ]

    // MARK: Authentication

    private func sessionCookie(value: String, maxAge: Int) -> Cookie {
        Cookie(
            name: OrganiserAuthenticator.sessionCookie, value: value, maxAge: maxAge, path: "/admin",
            secure: services.configuration.secureCookies, httpOnly: true, sameSite: .strict)
    }

    struct LoginView: PageTemplate {
        static let template = "admin_login"
        let csrf: String
        let email: String
        let error: String?
    }

    @Sendable func loginPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        try loginPage(request)
    }

    private func loginPage(_ request: Request, email: String = "", error: AppError? = nil) throws -> Response {
        let resolved = services.identities.forSitePage(request)
        var response = services.views.page(
            title: "Sign in", LoginView(csrf: resolved.csrf, email: email, error: error?.message),
            status: error?.status ?? .ok, admin: true)
        for field in error?.headers ?? [:] { response.headers.append(field) }
        if let cookie = resolved.newCookie { response.setCookie(cookie) }
        return response
    }

    @Sendable func login(_ request: Request, context: AppRequestContext) async throws -> Response {
        let form = try await services.body.form(request)
        _ = try services.identities.forSiteForm(request, form: form, conversationID: 0)
        try services.limiter.consume(
            "login:ip:\(context.remoteIP)", limit: services.configuration.rateLimits.loginsPerIP)
        let email = try form.required("email")
        let password = try form.required("password")
        let account = "login:failures:" + Organiser.normalisedEmail(email)
        let lockout = services.configuration.rateLimits.loginFailuresPerAccount
        let locked = services.limiter.wait(account, limit: lockout)
        if locked > 0 {
            return try loginPage(
                request, email: email,
                error: AppError(
                    .tooManyRequests, code: "locked",
                    message:
                        "Too many failed sign-ins for this account; it is locked for \(Int((Double(locked) / 60).rounded(.up))) more minute(s).",
                    headers: [.retryAfter: String(locked)]))
        }
        // An unknown e-mail is checked against a decoy hash, so it costs the same key derivation
        // as a wrong password and the answer's timing does not tell which e-mails have accounts.
        let credentials = try await services.store.organiserCredentials(email: email)
        let matches = services.configuration.passwordHasher.verify(
            password, against: credentials?.passwordHash ?? services.decoyPasswordHash)
        // A NUL can never be part of a password (PBKDF2 would pad a short key with zeros).
        guard !password.contains("\0"), matches, let (organiser, _) = credentials else {
            try? services.limiter.consume(account, limit: lockout)
            return try loginPage(
                request, email: email,
                error: AppError(.unauthorized, code: "unauthorized", message: "Wrong email or password."))
        }
        let token = SecureToken.make()
        try await services.store.storeSession(
            organiserID: organiser.id, tokenHash: SecureToken.digest(token),
            expiresAt: Date().addingTimeInterval(services.configuration.organiserSessionLifetime))
        var response = Response.seeOther("/admin")
        response.setCookie(sessionCookie(value: token, maxAge: Int(services.configuration.organiserSessionLifetime)))
        return response
    }

    // MARK: Pages

    struct NewView: PageTemplate {
        static let template = "admin_conversation_new"
        let organiserEmail, csrf, formAction, submitLabel: String
        let form: SettingsForm
        let error: String?
        /// The seed statements' box, kept when the form comes back with an error.
        let seeds: String
        let isNew = true
    }

    /// "1 statement", "3 statements".
    static func statementCount(_ count: Int) -> String { ActivityChart.count(count, "statement") }

    struct SkippedLine {
        let text: String
        let message: String
    }

    struct ConversationView: PageTemplate {
        static let template = "admin_conversation"
        let organiserEmail, csrf, formAction, submitLabel, slug, title: String
        let form: SettingsForm
        let pendingCount: Int
        let notice: String?
        let error: String?
        let hasSkipped: Bool
        let skipped: [SkippedLine]
        /// What the seed box holds: the lines that were not added, to fix and send again.
        let seedDraft: String
        let overview: Overview
        let flagged: [FlaggedRow]
        let flaggedCount: Int
        let hasFlagged: Bool
        let flaggedSummary: String
        let flaggedPageText: String?
        let flaggedPrevious, flaggedNext: String?
        let isOwner: Bool
        let xidPolicy, linkTemplate, xidSecret: String
        let signed: Bool
        let allowedCount: Int
        let members: [MemberRow]
    }

    struct MemberRow {
        let email, role: String
    }

    static let flagReasons: [BallotStuffing.Reason: String] = [
        .fastVoting: "voted faster than a person reads",
        .addressBurst: "one of many new participants from one address",
        .identicalVotes: "votes identical to others who joined together",
    ]

    /// "12 participants flagged: 8 voted faster than a person reads, 5 one of many new
    /// participants from one address (one participant can be flagged for several reasons)."
    static func flaggedSummary(_ flags: [ParticipantFlagging.Flag]) -> String {
        guard !flags.isEmpty else { return "No participant is flagged." }
        var byReason: [BallotStuffing.Reason: Int] = [:]
        for flag in flags { for reason in flag.reasons { byReason[reason, default: 0] += 1 } }
        let parts = BallotStuffing.Reason.allCases.compactMap { reason in
            byReason[reason].map { "\($0) \(flagSummaryReasons[reason] ?? reason.rawValue)" }
        }
        let several = flags.contains { $0.reasons.count > 1 } ? " (some for more than one reason)" : ""
        return "\(ActivityChart.count(flags.count, "participant")) flagged: \(parts.joined(separator: "; "))\(several)."
    }

    static let flagSummaryReasons: [BallotStuffing.Reason: String] = [
        .fastVoting: "voted faster than a person reads",
        .addressBurst: "joined in a burst from one address",
        .identicalVotes: "cast votes identical to others who joined with them",
    ]

    struct FlaggedRow {
        let id: Int64
        let xid: String?
        let reasons: String
        let fastVotes, votes: Int
        let flaggedAt: String
    }

    static let flaggedPageSize = 25

    private func conversationPage(
        _ context: AdminConversationContext, notice: String? = nil, error: AppError? = nil,
        skipped: [(text: String, error: CharterError)] = [], status: HTTPResponse.Status? = nil, flaggedPage: Int = 1
    ) async throws -> Response {
        try await conversationPage(
            conversation: context.conversation, organiser: context.organiser, csrf: context.csrf,
            isOwner: context.role == .owner, notice: notice, error: error, skipped: skipped, status: status,
            flaggedPage: flaggedPage)
    }

    private func conversationPage(
        conversation: Conversation, organiser: Organiser, csrf: String, isOwner: Bool, notice: String? = nil,
        error: AppError? = nil, skipped: [(text: String, error: CharterError)] = [],
        status: HTTPResponse.Status? = nil, flaggedPage: Int = 1
    ) async throws -> Response {
        let pending = try await services.store.statements(
            conversationID: conversation.id, filter: StatementFilter(moderation: .pending, limit: 1)
        ).total
        let flagged = try await ParticipantFlagging.flags(conversationID: conversation.id, store: services.store)
        let pages = max(1, (flagged.count + Self.flaggedPageSize - 1) / Self.flaggedPageSize)
        let page = min(max(1, flaggedPage), pages)
        let shown = flagged.dropFirst((page - 1) * Self.flaggedPageSize).prefix(Self.flaggedPageSize)
        let flaggedLink = { (page: Int) in "/admin/conversations/\(conversation.slug)?flagged_page=\(page)#flagged" }
        let view = ConversationView(
            organiserEmail: organiser.email, csrf: csrf, formAction: "/admin/conversations/\(conversation.slug)",
            submitLabel: "Save settings", slug: conversation.slug, title: conversation.settings.title,
            form: SettingsForm(conversation.settings), pendingCount: pending, notice: notice, error: error?.message,
            hasSkipped: !skipped.isEmpty,
            skipped: skipped.map { SkippedLine(text: $0.text, message: $0.error.message) },
            seedDraft: skipped.map(\.text).joined(separator: "\n"),
            overview: try await overview(conversation, pending: pending, flagged: flagged.count),
            flagged: shown.map {
                FlaggedRow(
                    id: $0.participant.id, xid: $0.participant.xid,
                    reasons: $0.reasons.map { Self.flagReasons[$0] ?? $0.rawValue }.joined(separator: ", "),
                    fastVotes: $0.fastVotes ?? 0, votes: $0.votes,
                    flaggedAt: $0.flaggedAt.map { ISO8601DateFormatter().string(from: $0) } ?? "")
            }, flaggedCount: flagged.count, hasFlagged: !flagged.isEmpty, flaggedSummary: Self.flaggedSummary(flagged),
            flaggedPageText: pages > 1
                ? "page \(page) of \(pages): \((page - 1) * Self.flaggedPageSize + 1)–\((page - 1) * Self.flaggedPageSize + shown.count)"
                : nil,
            flaggedPrevious: page > 1 ? flaggedLink(page - 1) : nil,
            flaggedNext: page < pages ? flaggedLink(page + 1) : nil,
            isOwner: isOwner, xidPolicy: conversation.settings.xidPolicy.rawValue,
            linkTemplate: "/c/\(conversation.slug)?xid=ID"
                + (conversation.settings.xidPolicy == .signed ? "&sig=SIG" : ""),
            xidSecret: isOwner ? services.signer.xidSecret(conversationID: conversation.id) : "",
            signed: conversation.settings.xidPolicy == .signed,
            allowedCount: isOwner ? try await services.store.allowedXIDCount(conversationID: conversation.id) : 0,
            members: isOwner
                ? try await services.store.members(conversationID: conversation.id).map {
                    MemberRow(email: $0.0.email, role: $0.1.rawValue)
                } : []
        )
        return services.views.page(
            title: conversation.settings.title, view,
            status: status ?? error?.status ?? .ok, admin: true)
    }
}
