import CharterDomain
import CharterMath
public import CharterPipeline
public import CharterServices
public import CharterStore
import Foundation
public import Hummingbird
public import Logging
import NIOCore
public import Prometheus

/// Everything the controllers share, built once per application.
struct AppServices: Sendable {
    let store: any CharterStore
    let configuration: HTTPConfiguration
    let signer: Signer
    let views: Views
    let limiter: RateLimiter
    let metrics: HTTPMetrics
    let body: RequestBodyReader
    let identities: ParticipantIdentityResolver
    let analysis: AnalysisService
    let runs: RunService
    let conversationIDs = ConversationDirectory()
    /// What an unknown e-mail's sign-in is checked against (see `PasswordHasher.decoy`).
    let decoyPasswordHash: String

    /// The next statement for a participant, drawn by the routing priority of the latest
    /// analysis; the draw is seeded by who asks and how far they are, so a reload shows the same
    /// statement.
    func nextStatement(conversationID: Int64, participantID: Int64?, seedKey: String, voted: Int) async throws
        -> Statement?
    {
        let candidates = try await store.unvotedStatements(conversationID: conversationID, participantID: participantID)
        guard !candidates.isEmpty else { return nil }
        let priorities = await analysis.priorities(of: conversationID)
        let chosen = StatementRouting.pick(
            candidates.map(\.id), priorities: priorities, seed: StatementRouting.seed(seedKey, voted))
        return candidates.first { $0.id == chosen }
    }

    /// The conversation the route's `{slug}` names, or 404.
    func conversation(_ context: AppRequestContext) async throws -> Conversation {
        let slug = try context.parameters.require("slug")
        guard let conversation = try await store.conversation(slug: slug) else {
            throw CharterError.notFound("Conversation")
        }
        return conversation
    }

    /// The id of the conversation a slug names, from memory when it was seen before. Only for
    /// writes that pass the slug on to the store, which refuses one the conversation no longer
    /// has; a caller that meets that refusal calls `forget`.
    func conversationID(slug: String) async throws -> (id: Int64, remembered: Bool) {
        if let id = conversationIDs[slug] { return (id, true) }
        guard let conversation = try await store.conversation(slug: slug) else {
            throw CharterError.notFound("Conversation")
        }
        conversationIDs[slug] = conversation.id
        return (conversation.id, false)
    }

    func adminCSRF(session: String) -> String {
        signer.signature(of: session, purpose: "admin-csrf")
    }

    func limitVote(identity: ParticipantIdentity, conversationID: Int64, ip: String) throws {
        let limits = configuration.rateLimits
        try limiter.consume("vote:ip:\(ip)", limit: limits.votesPerIP)
        try limiter.consume(
            "vote:" + ParticipantIdentityResolver.limitKey(identity, conversationID: conversationID),
            limit: limits.votesPerParticipant)
    }

    /// Remembers where a new participant joined from, as a keyed hash of the address (the
    /// address itself is never stored), for the ballot-stuffing flags.
    func recordOrigin(participantID: Int64, ip: String) async {
        try? await store.recordParticipantOrigin(
            participantID: participantID, addressKey: signer.signature(of: ip, purpose: "address"))
    }

    /// Making participants is what ballot stuffing needs, so it is limited per address.
    func limitNewParticipant(ip: String) throws {
        try limiter.consume("participant:ip:\(ip)", limit: configuration.rateLimits.participantsPerIP)
    }

    func limitStatement(identity: ParticipantIdentity, conversationID: Int64, ip: String) throws {
        let limits = configuration.rateLimits
        try limiter.consume("statement:ip:\(ip)", limit: limits.statementsPerIP)
        try limiter.consume(
            "statement:" + ParticipantIdentityResolver.limitKey(identity, conversationID: conversationID),
            limit: limits.statementsPerParticipant)
    }

    /// Undoes `limitStatement` for a submission the store refused (empty, too long, a
    /// duplicate): a mistake costs the participant nothing of their allowance.
    func refundStatement(identity: ParticipantIdentity, conversationID: Int64, ip: String) {
        let limits = configuration.rateLimits
        limiter.refund("statement:ip:\(ip)", limit: limits.statementsPerIP)
        limiter.refund(
            "statement:" + ParticipantIdentityResolver.limitKey(identity, conversationID: conversationID),
            limit: limits.statementsPerParticipant)
    }
}

/// Who may call what is declared where a route is added: the group it joins turns the
/// request's context into one that carries what the group guarantees (a signed-in organiser,
/// their session's CSRF token, the route's conversation and their role on it), so a handler
/// cannot forget a check.
func addRoutes(to router: Router<AppRequestContext>, services: AppServices, openAPIDocument: String) {
    let store = services.store
    let api: RouterPath = "/api/v1"
    let adminPath: RouterPath = "/admin"
    func organiserAPI() -> RouterGroup<OrganiserContext> { router.group(context: OrganiserContext.self) }
    func adminPages() -> RouterGroup<AdminContext> { router.group(context: AdminContext.self) }
    func conversationAPI(_ role: ConversationRole, of target: AccessTarget) -> RouterGroup<ConversationContext> {
        organiserAPI()
            .add(middleware: ConversationRoleMiddleware<OrganiserContext>(role: role, target: target, store: store))
            .group(context: ConversationContext.self)
    }
    func conversationPages(_ role: ConversationRole, of target: AccessTarget) -> RouterGroup<AdminConversationContext> {
        adminPages()
            .add(middleware: ConversationRoleMiddleware<AdminContext>(role: role, target: target, store: store))
            .group(context: AdminConversationContext.self)
    }

    // Anyone: participants, probes, static files, the API description, signing in.
    router.addRoutes(OperationsRoutes(services: services).routes)
    router.addRoutes(StaticFiles(directory: services.configuration.publicDirectory).routes)
    router.addRoutes(ParticipantPages(services: services).routes, atPath: "/c")
    router.addRoutes(ParticipantDemographics(services: services).routes, atPath: "/c")
    router.addRoutes(ResultsPage(services: services).routes, atPath: "/c")
    router.addRoutes(ParticipantAPI(services: services).routes, atPath: api)
    let organiser = OrganiserAPI(services: services, openAPIDocument: openAPIDocument)
    router.addRoutes(organiser.openRoutes, atPath: api)
    let admin = AdminPages(services: services)
    router.addRoutes(admin.openPages, atPath: adminPath)

    // The organiser API.
    let analysis = AnalysisRoutes(services: services)
    let imports = ImportRoutes(services: services)
    let constitutions = ConstitutionRoutes(services: services)
    let runs = RunRoutes(services: services)
    let demographics = DemographicsRoutes(services: services)
    organiserAPI().addRoutes(organiser.organiserRoutes, atPath: api)
        .addRoutes(imports.organiserRoutes, atPath: api)
        .addRoutes(runs.organiserRoutes, atPath: api)
    organiserAPI().add(middleware: InstanceAdminMiddleware<OrganiserContext>())
        .addRoutes(organiser.instanceAdminRoutes, atPath: api)
    conversationAPI(.moderator, of: .conversation).addRoutes(organiser.moderatorRoutes, atPath: api)
        .addRoutes(analysis.apiRoutes, atPath: api)
        .addRoutes(demographics.apiReaderRoutes, atPath: api)
        .addRoutes(constitutions.moderatorRoutes, atPath: api)
    conversationAPI(.owner, of: .conversation).addRoutes(organiser.ownerRoutes, atPath: api)
        .addRoutes(imports.ownerRoutes, atPath: api)
        .addRoutes(constitutions.ownerRoutes, atPath: api)
        .addRoutes(demographics.apiOwnerRoutes, atPath: api)
    conversationAPI(.moderator, of: .constitution).addRoutes(constitutions.readerRoutes, atPath: api)
    conversationAPI(.moderator, of: .run).addRoutes(runs.readerRoutes, atPath: api)
    conversationAPI(.owner, of: .run).addRoutes(runs.ownerRoutes, atPath: api)

    // The admin pages.
    let access = AdminAccessPages(services: services)
    let builder = ConstitutionPages(services: services)
    let runPages = RunPages(services: services)
    adminPages().addRoutes(admin.organiserPages, atPath: adminPath)
        .addRoutes(runPages.organiserPages, atPath: adminPath)
    adminPages().add(middleware: InstanceAdminMiddleware<AdminContext>())
        .addRoutes(access.instanceAdminPages, atPath: adminPath)
    conversationPages(.moderator, of: .conversation).addRoutes(admin.moderatorPages, atPath: adminPath)
        .addRoutes(analysis.moderatorPages, atPath: adminPath)
        .addRoutes(builder.moderatorPages, atPath: adminPath)
        .addRoutes(ConstitutionVersionPages(services: services).moderatorPages, atPath: adminPath)
        .addRoutes(StatementPages(services: services).moderatorPages, atPath: adminPath)
        .addRoutes(demographics.moderatorPages, atPath: adminPath)
    conversationPages(.owner, of: .conversation).addRoutes(admin.ownerPages, atPath: adminPath)
        .addRoutes(access.ownerPages, atPath: adminPath)
        .addRoutes(analysis.ownerPages, atPath: adminPath)
        .addRoutes(builder.ownerPages, atPath: adminPath)
        .addRoutes(imports.ownerPages, atPath: adminPath)
        .addRoutes(demographics.ownerPages, atPath: adminPath)
    conversationPages(.moderator, of: .constitution).addRoutes(builder.readerPages, atPath: adminPath)
    conversationPages(.moderator, of: .run).addRoutes(runPages.readerPages, atPath: adminPath)
    conversationPages(.owner, of: .run).addRoutes(runPages.ownerPages, atPath: adminPath)
}

/// Builds the router with every route and middleware of Charter.
public func buildRouter(
    store: any CharterStore, configuration: HTTPConfiguration, secret: String,
    registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), analysis: AnalysisService? = nil,
    runs: RunService? = nil
) async throws -> Router<AppRequestContext> {
    let signer = Signer(secret: secret)
    let views = try await Views.load()
    let services = AppServices(
        store: store, configuration: configuration, signer: signer, views: views, limiter: RateLimiter(),
        metrics: HTTPMetrics(registry: registry), body: RequestBodyReader(limit: configuration.maxBodyBytes),
        identities: ParticipantIdentityResolver(
            signer: signer, secureCookies: configuration.secureCookies, store: store),
        analysis: analysis ?? AnalysisService(store: store, logger: Logger(label: "charter.analysis")),
        runs: runs ?? RunService(store: store), decoyPasswordHash: configuration.passwordHasher.decoy())

    let router = Router(context: AppRequestContext.self)
    router.add(middleware: ClientAddressMiddleware(trusted: configuration.trustedProxies))
    router.add(middleware: LogRequestsMiddleware(.debug))
    router.add(middleware: MetricsMiddleware(metrics: services.metrics))
    router.add(middleware: SecurityHeadersMiddleware())
    router.add(middleware: ErrorMiddleware(views: views))
    router.add(middleware: BodyLimitMiddleware(limit: configuration.maxBodyBytes))
    let openAPIDocument = try OpenAPIDocument.load()
    router.add(
        middleware: MethodNotAllowedMiddleware(
            declared: try DeclaredMethods(openAPIDocument: openAPIDocument), prefix: "/api/v1/"))
    router.add(middleware: OrganiserAuthenticator(services: services))
    addRoutes(to: router, services: services, openAPIDocument: openAPIDocument)
    return router
}

public func buildApplication(
    store: any CharterStore, configuration: HTTPConfiguration, secret: String, host: String, port: Int,
    logger: Logger, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
    analysis: AnalysisService? = nil, runs: RunService? = nil
) async throws -> some ApplicationProtocol {
    let router = try await buildRouter(
        store: store, configuration: configuration, secret: secret, registry: registry, analysis: analysis, runs: runs)
    func nanoseconds(_ duration: Duration) -> TimeAmount {
        let parts = duration.components
        return .nanoseconds(parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000)
    }
    let limits = RequestDeadlineHandler.Limits(
        headTimeout: nanoseconds(configuration.headerTimeout), bodyTimeout: nanoseconds(configuration.bodyTimeout),
        minimumBodyRate: configuration.minimumBodyRate)
    let connectionLogger = logger
    return Application(
        router: router,
        server: .http1(
            configuration: .init(
                additionalChannelHandlers: [RequestDeadlineHandler(limits: limits, logger: connectionLogger)],
                idleTimeout: nanoseconds(configuration.idleTimeout))),
        configuration: .init(address: .hostname(host, port: port), serverName: "Charter"),
        logger: logger)
}
