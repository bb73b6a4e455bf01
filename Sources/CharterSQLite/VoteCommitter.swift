import CharterDomain
import CharterStore
import Foundation
import GRDB
import Synchronization

/// Group commit for votes. Votes that arrive while a transaction is committing wait, and the
/// next transaction writes all of them at once, so one fsync (`synchronous = FULL`) makes many
/// votes durable. A vote that breaks a rule (a duplicate, a closed conversation) fails alone:
/// every rule is checked before that vote writes anything. A transaction that fails (a full
/// disk) fails every vote in it. No vote is acknowledged before the transaction holding it has
/// committed.
final class VoteCommitter: Sendable {
    struct Request: Sendable {
        let conversationID: Int64
        /// The slug the client addressed, when it came through one: a conversation renamed
        /// since is not found under the old name.
        let slug: String?
        let identity: ParticipantIdentity
        let statementID: Int64
        let value: VoteValue
        let at: Date
    }

    struct Recorded: Sendable {
        let conversation: Conversation
        let participant: Participant
        let vote: Vote
        let outcome: VoteOutcome
        let progress: VotingProgress
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
        let results: [Result<Recorded, CharterError>]
        do {
            results = try await pool.writeWithoutTransaction { db in
                var results: [Result<Recorded, CharterError>] = []
                results.reserveCapacity(requests.count)
                try db.inTransaction(.immediate) {
                    var cache = BatchCache()
                    for request in requests {
                        do {
                            results.append(.success(try self.record(db, request, cache: &cache)))
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

    /// A conversation as the vote path needs it, true while `conversation_revision` still
    /// holds `revision`.
    struct CachedConversation: Sendable {
        let revision: Int64
        let conversation: Conversation
        /// The statements it shows for voting: the check and the participant's progress cost
        /// no query per vote.
        let votable: Set<Int64>
    }

    /// Kept across transactions; only the writer's queue touches it.
    private let conversationCache = Mutex([Int64: CachedConversation]())

    /// What one transaction has checked: each conversation's revision is read once per
    /// transaction, since nothing else writes while it runs.
    private struct BatchCache {
        var current: [Int64: CachedConversation] = [:]
    }

    /// The conversation from the cache when its revision is unchanged, else read afresh.
    private func conversation(_ db: Database, id: Int64) throws -> CachedConversation {
        // Every conversation has a revision row from the moment it is inserted.
        guard
            let revision = try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT revision FROM conversation_revision WHERE conversation_id = ?"),
                arguments: [id])
        else { throw CharterError.notFound("Conversation") }
        if let cached = conversationCache.withLock({ $0[id] }), cached.revision == revision { return cached }
        guard let conversation = try SQLiteStore.fetchConversation(db, id: id) else {
            throw CharterError.notFound("Conversation")
        }
        let votable = try Set(
            Int64.fetchAll(db.cachedStatement(sql: SQLiteStore.votableStatementIDsSQL), arguments: [id]))
        let fresh = CachedConversation(revision: revision, conversation: conversation, votable: votable)
        conversationCache.withLock { $0[id] = fresh }
        return fresh
    }

    /// One vote, with every rule checked against the state inside the transaction before the
    /// first write: a refused vote leaves nothing behind, so no savepoint is needed. Every
    /// statement is a cached one: preparing SQL cost more than running it on this path.
    private func record(_ db: Database, _ request: Request, cache: inout BatchCache) throws -> Recorded {
        let current = try cache.current[request.conversationID] ?? conversation(db, id: request.conversationID)
        cache.current[request.conversationID] = current
        let (conversation, votable) = (current.conversation, current.votable)
        let shown = votable.contains(request.statementID)
        let exists =
            try shown
            || Bool.fetchOne(
                db.cachedStatement(sql: "SELECT 1 FROM statement WHERE id = ? AND conversation_id = ?"),
                arguments: [request.statementID, request.conversationID]) != nil
        try VoteRules.checkTarget(
            conversation: conversation, addressedSlug: request.slug, statementExists: exists, shown: shown,
            at: request.at)
        let existing = try SQLiteStore.fetchParticipant(
            db, conversationID: request.conversationID, identity: request.identity)
        if case .id = request.identity, existing == nil { throw CharterError.notFound("Participant") }
        let participant =
            try existing
            ?? SQLiteStore.insertParticipant(
                db, conversationID: request.conversationID, identity: request.identity, at: request.at)

        // One pass over the participant's current votes gives the vote being replaced, the
        // progress and the latest vote (the row with the newest event: every event updates it).
        var previous: VoteValue?
        var voted = 0
        var lastEvent: Int64 = -1
        var lastStatement: Int64?
        var lastAt = DatabaseValue.null
        if existing != nil {
            let rows = try Row.fetchCursor(
                db.cachedStatement(
                    sql: "SELECT statement_id, value, event_id, created_at FROM vote WHERE participant_id = ?"),
                arguments: [participant.id])
            while let row = try rows.next() {
                let statementID: Int64 = row[0]
                if votable.contains(statementID) { voted += 1 }
                if statementID == request.statementID { previous = VoteValue(rawValue: row[1]) }
                let event: Int64 = row[2]
                if event > lastEvent { (lastEvent, lastStatement, lastAt) = (event, statementID, row[3]) }
            }
        }
        let outcome = try VoteRules.outcome(
            of: request.value, on: request.statementID, previous: previous, latestVotedStatementID: lastStatement)
        if previous == nil { voted += 1 }
        try SQLiteStore.recordVote(
            db, conversationID: conversation.id, participantID: participant.id, statementID: request.statementID,
            value: request.value, previous: previous, at: request.at)
        if fastVoting.isFast(previousVoteAt: Date.fromDatabaseValue(lastAt), now: request.at) {
            try db.cachedStatement(
                sql: """
                    UPDATE participant SET fast_votes = fast_votes + 1,
                        flagged_at = CASE WHEN flagged_at IS NULL AND fast_votes + 1 >= ? THEN ? ELSE flagged_at END
                    WHERE id = ?
                    """
            ).execute(arguments: [fastVoting.votes, request.at, participant.id])
        }
        return Recorded(
            conversation: conversation, participant: participant,
            vote: Vote(
                participantID: participant.id, statementID: request.statementID, value: request.value,
                createdAt: request.at),
            outcome: outcome,
            progress: VotingProgress(voted: voted, total: votable.count))
    }
}
