public import CharterDomain
public import CharterStore
import Foundation
public import Logging
import NIOSSL
import PostgresNIO
import Synchronization

/// Charter's data on PostgreSQL: the same `CharterStore` as on SQLite, for several servers on
/// one database. Every operation that changes data is one transaction; rules are
/// `CharterDomain`'s, read inside the transaction; check-then-write races are closed by UNIQUE
/// constraints (`ON CONFLICT`) or by locking the row the check reads (`FOR UPDATE`). Votes go
/// through group commit (`PostgresVoteCommitter`), acknowledged only after `COMMIT` returns with
/// `synchronous_commit = on`.
public final class PostgresStore: Sendable {
    let client: PostgresClient
    let logger: Logger
    private let running: Task<Void, Never>
    let votes: PostgresVoteCommitter

    /// Connects to `url` (`postgres://user[:password]@host[:port]/database`, optionally
    /// `?sslmode=disable|prefer|require`) and brings the schema up to date. With `schema`, every
    /// table lives in that schema (created if absent): tests give each case its own.
    public init(
        url: String, schema: String? = nil, maximumConnections: Int = 16, fastVoting: FastVoting = FastVoting(),
        logger: Logger = Logger(label: "charter.postgres")
    ) async throws {
        var configuration = try Self.configuration(url: url)
        configuration.options.maximumConnections = maximumConnections
        var parameters = [("synchronous_commit", "on"), ("application_name", "charter")]
        if let schema {
            guard schema.range(of: "^[a-z_][a-z0-9_]{0,62}$", options: .regularExpression) != nil else {
                throw CharterError.invalid(field: "schema", message: "A schema name is lowercase letters, digits, _.")
            }
            parameters.append(("search_path", schema))
        }
        configuration.options.additionalStartupParameters = parameters
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.logger = logger
        running = Task { await client.run() }
        votes = PostgresVoteCommitter(client: client, logger: logger, fastVoting: fastVoting)
        do {
            if let schema {
                _ = try await client.withConnection { connection in
                    try await SQLConnection(connection: connection, logger: logger).execute(
                        "CREATE SCHEMA IF NOT EXISTS \(schema)")
                }
            }
            try await PostgresSchema.migrate(client: client, logger: logger)
        } catch {
            running.cancel()
            throw Self.storageError(error)
        }
    }

    /// Closes the connections; the store cannot be used afterwards.
    public func close() async {
        running.cancel()
        _ = await running.value
    }

    public var voteCommitStatistics: VoteCommitStatistics { votes.statistics }

    static func configuration(url: String) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty else {
            throw CharterError.invalid(
                field: "database", message: "A PostgreSQL URL looks like postgres://user@host/db.")
        }
        let database = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        let query = Dictionary(
            (components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, last in last })
        let tls: PostgresClient.Configuration.TLS
        switch query["sslmode"] ?? "prefer" {
        case "disable": tls = .disable
        case "prefer", "allow": tls = .prefer(.makeClientConfiguration())
        case "require", "verify-ca", "verify-full": tls = .require(.makeClientConfiguration())
        case let other:
            throw CharterError.invalid(field: "database", message: "Unknown sslmode \"\(other)\" in the database URL.")
        }
        return PostgresClient.Configuration(
            host: host, port: components.port ?? 5432,
            username: components.user?.removingPercentEncoding ?? ProcessInfo.processInfo.environment["USER"]
                ?? "postgres",
            password: components.password?.removingPercentEncoding, database: database.isEmpty ? nil : database,
            tls: tls)
    }

    /// One transaction: committed when `body` returns, rolled back when it throws. Storage
    /// failures (the server gone, a full disk, a deadlock) become `StorageUnavailable`.
    func write<T: Sendable>(_ body: (SQLConnection) async throws -> T) async throws -> T {
        try await transaction("BEGIN", body)
    }

    /// A read on one connection; several statements in it see one snapshot.
    func read<T: Sendable>(_ body: (SQLConnection) async throws -> T) async throws -> T {
        try await transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body)
    }

    private func transaction<T: Sendable>(_ begin: String, _ body: (SQLConnection) async throws -> T) async throws
        -> T
    {
        do {
            return try await client.withConnection { connection in
                let sql = SQLConnection(connection: connection, logger: logger)
                try await sql.execute(begin)
                do {
                    let result = try await body(sql)
                    try await sql.execute("COMMIT")
                    return result
                } catch {
                    _ = try? await sql.execute("ROLLBACK")
                    throw error
                }
            }
        } catch {
            throw Self.storageError(error)
        }
    }

    /// One statement outside a transaction.
    func readOne<T: Sendable>(_ body: (SQLConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withConnection { connection in
                try await body(SQLConnection(connection: connection, logger: logger))
            }
        } catch {
            throw Self.storageError(error)
        }
    }

    /// What PostgreSQL reports about its own trouble (the connection, resources, a shutdown, a
    /// deadlock or serialization failure) becomes `StorageUnavailable` (503, try again); a
    /// `CharterError` passes unchanged.
    static func storageError(_ error: any Error) -> any Error {
        if error is CharterError || error is StorageUnavailable { return error }
        // The pool gave up connecting (the server is down or refuses): the server's trouble.
        if String(reflecting: type(of: error)).hasSuffix("ConnectionPoolError") {
            return StorageUnavailable(reason: "PostgreSQL unreachable: \(error)")
        }
        guard let error = error as? PSQLError else { return error }
        if let state = error.serverInfo?[.sqlState] {
            let retryable = ["08", "53", "57", "58", "40"].contains { state.hasPrefix($0) }
            if retryable {
                return StorageUnavailable(
                    reason: "PostgreSQL \(state): \(error.serverInfo?[.message] ?? "unavailable")")
            }
            return error
        }
        return StorageUnavailable(reason: "PostgreSQL connection: \(error.code)")
    }

    /// The SQLSTATE of a server error, if it is one.
    static func sqlState(_ error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }
}
