import CharterDomain
import CharterStore
import Foundation
import GRDB
import Synchronization

/// Group commit for votes. Votes that arrive while a transaction is committing wait, and the
/// next transaction writes all of them at once, so one fsync (`synchronous = FULL`) makes many
/// votes durable. Each vote runs in a savepoint: one that breaks a rule (a duplicate, a closed
/// conversation) fails alone, while a transaction that fails (a full disk) fails every vote in
/// it. No vote is acknowledged before the transaction holding it has committed.
final class VoteCommitter: Sendable {
    struct Request: Sendable {
        let conversationID: Int64
        let identity: ParticipantIdentity
        let statementID: Int64
        let value: VoteValue
        let at: Date
    }

    struct Recorded: Sendable {
        let participant: Participant
        let vote: Vote
        let outcome: VoteOutcome
    }

    private struct Pending: Sendable {
        let request: Request
        let continuation: CheckedContinuation<Recorded, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var committing = false
        /// Votes in the transaction being written.
        var inFlight = 0
    }

    /// The most votes one transaction takes; a larger backlog is written in several.
    static let maximumBatch = 4096

    private let pool: DatabasePool
    private let state = Mutex(State())
    private let counters = Mutex(VoteCommitStatistics())
    private let fastVoting: FastVoting

    init(pool: DatabasePool, fastVoting: FastVoting) {
        self.pool = pool
        self.fastVoting = fastVoting
    }

    func submit(_ request: Request) async throws -> Recorded {
        try await withCheckedThrowingContinuation { continuation in
            let start = state.withLock { state in
                state.pending.append(Pending(request: request, continuation: continuation))
                guard !state.committing else { return false }
                state.committing = true
                return true
            }
            if start { Task { await self.drain() } }
        }
    }

    /// Votes submitted and not yet answered: in the transaction being written, or waiting for
    /// the next.
    var unanswered: Int { state.withLock { $0.pending.count + $0.inFlight } }

    var statistics: VoteCommitStatistics { counters.withLock { $0 } }

    /// Commits batches until nobody is waiting.
    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Pending] in
                let batch = Array(state.pending.prefix(Self.maximumBatch))
                state.pending.removeFirst(batch.count)
                state.inFlight = batch.count
                if batch.isEmpty { state.committing = false }
                return batch
            }
            if batch.isEmpty { return }
            await commit(batch)
        }
    }

    private func commit(_ batch: [Pending]) async {
        let requests = batch.map(\.request)
        let fastVoting = self.fastVoting
        let results: [Result<Recorded, CharterError>]
        do {
            results = try await pool.writeWithoutTransaction { db in
                var results: [Result<Recorded, CharterError>] = []
                results.reserveCapacity(requests.count)
                try db.inTransaction(.immediate) {
                    var conversations: [Int64: Conversation] = [:]
                    for request in requests {
                        do {
                            var recorded: Recorded?
                            try db.inSavepoint {
                                recorded = try Self.record(
                                    db, request, conversations: &conversations, fastVoting: fastVoting)
                                return .commit
                            }
                            if let recorded { results.append(.success(recorded)) }
                        } catch let error as CharterError {
                            results.append(.failure(error))
                        }
                    }
                    return .commit
                }
                return results
            }
        } catch {
            counters.withLock { $0.failedTransactions += 1 }
            let failure = SQLiteStore.storageError(error)
            for pending in batch { pending.continuation.resume(throwing: failure) }
            return
        }
        counters.withLock {
            $0.transactions += 1
            $0.votes += batch.count
            $0.largestBatch = max($0.largestBatch, batch.count)
        }
        for (pending, result) in zip(batch, results) {
            switch result {
            case .success(let recorded): pending.continuation.resume(returning: recorded)
            case .failure(let error): pending.continuation.resume(throwing: error)
            }
        }
    }

    /// One vote, with every rule checked against the state inside the transaction.
    private static func record(
        _ db: Database, _ request: Request, conversations: inout [Int64: Conversation], fastVoting: FastVoting
    ) throws -> Recorded {
        let conversation: Conversation
        if let cached = conversations[request.conversationID] {
            conversation = cached
        } else {
            guard let fetched = try SQLiteStore.fetchConversation(db, id: request.conversationID) else {
                throw CharterError.notFound("Conversation")
            }
            conversations[request.conversationID] = fetched
            conversation = fetched
        }
        guard
            let statement = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM statement WHERE id = ? AND conversation_id = ?"),
                arguments: [request.statementID, request.conversationID]
            ).map(Statement.init(row:))
        else { throw CharterError.notFound("Statement") }
        guard conversation.isOpen(at: request.at) else { throw CharterError.conversationClosed }
        guard conversation.shows(statement) else { throw CharterError.statementNotVotable }
        let existing = try SQLiteStore.fetchParticipant(
            db, conversationID: request.conversationID, identity: request.identity)
        if case .id = request.identity, existing == nil { throw CharterError.notFound("Participant") }

        let participant =
            try existing
            ?? SQLiteStore.insertParticipant(
                db, conversationID: request.conversationID, identity: request.identity, at: request.at)
        let last =
            existing == nil
            ? nil
            : try Row.fetchOne(
                db,
                sql:
                    "SELECT statement_id, created_at FROM vote_event WHERE participant_id = ? ORDER BY id DESC LIMIT 1",
                arguments: [participant.id])
        let previous =
            existing == nil
            ? nil
            : try Int.fetchOne(
                db.cachedStatement(sql: "SELECT value FROM vote WHERE participant_id = ? AND statement_id = ?"),
                arguments: [participant.id, request.statementID]
            ).flatMap(VoteValue.init(rawValue:))
        if let previous {
            guard previous != request.value else { throw CharterError.duplicateVote }
            guard last?["statement_id"] == request.statementID else { throw CharterError.voteNotChangeable }
        }
        try SQLiteStore.recordVote(
            db, conversationID: conversation.id, participantID: participant.id, statementID: request.statementID,
            value: request.value, previous: previous, at: request.at)
        if let lastAt: Date = last?["created_at"], request.at.timeIntervalSince(lastAt) < fastVoting.interval {
            try db.cachedStatement(
                sql: """
                    UPDATE participant SET fast_votes = fast_votes + 1,
                        flagged_at = CASE WHEN flagged_at IS NULL AND fast_votes + 1 >= ? THEN ? ELSE flagged_at END
                    WHERE id = ?
                    """
            ).execute(arguments: [fastVoting.votes, request.at, participant.id])
        }
        return Recorded(
            participant: participant,
            vote: Vote(
                participantID: participant.id, statementID: request.statementID, value: request.value,
                createdAt: request.at),
            outcome: previous.map { .changed(from: $0) } ?? .recorded)
    }
}

/// What group commit has done since the store opened.
public struct VoteCommitStatistics: Sendable, Equatable {
    /// Committed vote transactions.
    public var transactions = 0
    /// Votes in them, accepted or refused by a rule.
    public var votes = 0
    public var largestBatch = 0
    public var failedTransactions = 0
}

/// When a participant is voting faster than a person can read: `votes` votes each within
/// `interval` seconds of the one before flag them for organisers.
public struct FastVoting: Sendable, Equatable {
    public var interval: Double
    public var votes: Int

    public init(interval: Double = 0.5, votes: Int = 10) {
        self.interval = interval
        self.votes = votes
    }
}
