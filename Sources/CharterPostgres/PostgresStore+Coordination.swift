public import CharterStore
import Foundation
import Logging
import PostgresNIO

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

extension PostgresStore: ServerCoordination {
    /// The advisory lock whose holder runs the analysis: a session lock on a connection this
    /// loop keeps, so it is released the moment that server dies or loses its connection, and
    /// another one takes it at its next try (every `retry`).
    static let analysisLeaderKey: Int32 = 0x414E_4C59  // "ANLY"

    public func coordinate(
        leading: @escaping @Sendable (Bool) -> Void, changed: @escaping @Sendable (Int64) -> Void,
        analysed: @escaping @Sendable (Int64) -> Void
    ) async {
        await coordinate(leading: leading, changed: changed, analysed: analysed, retry: .seconds(1))
    }

    func coordinate(
        leading: @escaping @Sendable (Bool) -> Void, changed: @escaping @Sendable (Int64) -> Void,
        analysed: @escaping @Sendable (Int64) -> Void, retry: Duration
    ) async {
        let logger = self.logger
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    let sql = SQLConnection(connection: connection, logger: logger)
                    let outcome = await Result(catching: {
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            for (channel, report) in [
                                ("charter_votes", changed), ("charter_conversation", changed),
                                ("charter_analysis", analysed),
                            ] {
                                group.addTask {
                                    try await connection.listen(on: channel) { notifications in
                                        for try await notification in notifications {
                                            if let id = Int64(notification.payload) { report(id) }
                                        }
                                    }
                                }
                            }
                            group.addTask {
                                var held = false
                                while !Task.isCancelled {
                                    if !held {
                                        held =
                                            try await sql.value(
                                                Bool.self, "SELECT pg_try_advisory_lock(?, hashtext(current_schema()))",
                                                Self.analysisLeaderKey) ?? false
                                        if held { leading(true) }
                                    } else {
                                        // A query on the connection finds out early that it is gone.
                                        try await sql.execute("SELECT 1")
                                    }
                                    try await Task.sleep(for: retry)
                                }
                            }
                            try await group.next()
                            group.cancelAll()
                        }
                    })
                    // The connection goes back to the pool and must not keep the lock; in a task
                    // of its own, since this one may have been cancelled.
                    await Task { _ = try? await sql.execute("SELECT pg_advisory_unlock_all()") }.value
                    try outcome.get()
                }
            } catch is CancellationError {
                break
            } catch {
                if Task.isCancelled { break }
                logger.warning("coordination connection lost; retrying", metadata: ["error": "\(error)"])
            }
            leading(false)
            try? await Task.sleep(for: retry)
        }
        leading(false)
    }
}
