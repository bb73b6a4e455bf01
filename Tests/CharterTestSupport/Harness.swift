public import CharterDomain
public import CharterHTTP
public import CharterPipeline
public import CharterSQLite
public import CharterServices
import CharterStore
import Foundation
public import HTTPTypes
public import Hummingbird
public import HummingbirdTesting
import Logging
import NIOCore

/// A Charter application on a fresh database with one open conversation ("town", five seed
/// statements), one organiser with a password and an API token.
public struct Harness: Sendable {
    public static let password = "correct horse battery staple"
    public static let email = "organiser@example.org"

    public let database: TemporaryDatabase
    public let store: SQLiteStore
    public let configuration: HTTPConfiguration
    public let conversation: Conversation
    public let statements: [Statement]
    public let organiser: Organiser
    public let organiserToken: String
    /// Not running: tests call `analyze` themselves, so nothing depends on timing.
    public let analysis: AnalysisService
    /// Not running either: tests execute a queued run with `runs.executeNow`, with the
    /// stand-in pipeline of `Tests/CharterPipelineTests/Fixtures`.
    public let runs: RunService

    public static func make(
        _ configure: (inout HTTPConfiguration) -> Void = { _ in },
        conversation edit: (inout ConversationSettings) -> Void = { _ in }
    ) async throws -> Harness {
        let database = try TemporaryDatabase()
        let store = try database.open()
        var configuration = HTTPConfiguration()
        configuration.rateLimits = .unlimited
        configuration.passwordHasher = PasswordHasher(rounds: 1000)
        configure(&configuration)
        // Open, as conversations were before panel-id policies; the policy tests set their own.
        var settings = ConversationSettings(
            slug: "town", title: "Town hall", question: "How should our AI behave?", xidPolicy: .open)
        edit(&settings)
        let conversation = try await store.createConversation(settings, by: .system)
        let statements = try await store.addSeedStatements(
            conversationID: conversation.id,
            texts: [
                "The AI should be honest.", "The AI should be kind.", "The AI should cite sources.",
                "The AI should refuse dangerous requests.", "The AI should respect privacy.",
            ],
            by: .system
        ).added
        let organiser = try await store.createOrganiser(
            email: email, passwordHash: try configuration.passwordHasher.hash(password))
        let token = SecureToken.make(prefix: "co_")
        try await store.storeAPIToken(organiserID: organiser.id, tokenHash: SecureToken.digest(token), label: "test")
        var analysisConfiguration = AnalysisService.Configuration()
        analysisConfiguration.debounce = .seconds(3600)
        return Harness(
            database: database, store: store, configuration: configuration, conversation: conversation,
            statements: statements, organiser: organiser, organiserToken: token,
            analysis: AnalysisService(
                store: store, configuration: analysisConfiguration, logger: Logger(label: "test")),
            runs: RunService(
                store: store,
                configuration: Fixtures.runConfiguration(
                    pipeline: "ok-pipeline", runsDirectory: database.folder.appendingPathComponent("runs")),
                logger: Logger(label: "test")))
    }

    public func router() async throws -> Router<AppRequestContext> {
        try await buildRouter(
            store: store, configuration: configuration, secret: "test-secret", analysis: analysis, runs: runs)
    }

    /// Runs `body` against the application in process (`.router`).
    public func test<Value: Sendable>(_ body: @Sendable (any TestClientProtocol) async throws -> Value) async throws
        -> Value
    {
        let app = Application(router: try await router(), logger: Logger(label: "test"))
        return try await app.test(.router) { client in try await body(client) }
    }

    public var organiserHeaders: HTTPFields { [.authorization: "Bearer \(organiserToken)"] }

    public func snapshot() throws -> String { try store.snapshot() }
}

extension TestClientProtocol {
    /// A JSON request; `body` is sent as given so malformed JSON can be tested.
    public func json(
        _ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil, headers: HTTPFields = [:]
    ) async throws -> TestResponse {
        var fields = headers
        if body != nil, fields[.contentType] == nil { fields[.contentType] = "application/json" }
        return try await executeRequest(
            uri: uri, method: method, headers: fields, body: body.map { ByteBuffer(string: $0) })
    }
}

extension TestResponse {
    public var text: String { String(buffer: body) }

    public func decoded() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
    }

    public var errorCode: String? {
        ((try? decoded())?["error"] as? [String: Any])?["code"] as? String
    }
}
