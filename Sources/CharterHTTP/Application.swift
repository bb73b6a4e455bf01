import CharterDomain
import CharterMath
public import CharterPipeline
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

    /// The one session guard of the admin pages: the organiser signed in with a session cookie
    /// and the CSRF token their forms carry. Without a session it throws `AppError.signIn`,
    /// which the error middleware turns into the sign-in page for a page view.
    func adminSession(_ context: AppRequestContext) throws -> (organiser: Organiser, csrf: String) {
        guard let organiser = context.organiser, let session = context.organiserSessionToken else {
            throw AppError.signIn
        }
        return (organiser, adminCSRF(session: session))
    }

    /// The one CSRF check of the admin forms: the token must belong to the session.
    func checkAdminCSRF(_ given: String?, context: AppRequestContext) throws -> Organiser {
        let (organiser, expected) = try adminSession(context)
        guard let given, ConstantTime.equal(Array(given.utf8), Array(expected.utf8)) else { throw AppError.badCSRF }
        return organiser
    }

    /// The organiser behind an admin form post whose CSRF token belongs to their session.
    func organiserForm(_ request: Request, context: AppRequestContext) async throws -> (Organiser, Form) {
        _ = try adminSession(context)
        let form = try await body.form(request)
        return (try checkAdminCSRF(form["csrf"], context: context), form)
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
    router.add(middleware: OrganiserAuthenticator(services: services))
    router.add(middleware: ConversationAccessMiddleware(store: store))

    OperationsRoutes(services: services).addRoutes(to: router)
    ParticipantPages(services: services).addRoutes(to: router)
    ParticipantAPI(services: services).addRoutes(to: router)
    OrganiserAPI(services: services, openAPIDocument: try OpenAPIDocument.load()).addRoutes(to: router)
    AdminPages(services: services).addRoutes(to: router)
    AdminAccessPages(services: services).addRoutes(to: router)
    AnalysisRoutes(services: services).addRoutes(to: router)
    ImportRoutes(services: services).addRoutes(to: router)
    ConstitutionRoutes(services: services).addRoutes(to: router)
    ConstitutionPages(services: services).addRoutes(to: router)
    RunRoutes(services: services).addRoutes(to: router)
    RunPages(services: services).addRoutes(to: router)
    StaticFiles(directory: configuration.publicDirectory).addRoutes(to: router)
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
