import CharterDomain
import CharterStore
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Group commit for votes on PostgreSQL, as `VoteCommitter` does on SQLite: votes that arrive
/// while a transaction commits wait and go together in the next one; each vote that breaks a
/// rule fails alone (every rule is decided before anything is written); a vote is acknowledged
/// only after `COMMIT` returns (`synchronous_commit = on`). A transaction costs a fixed number
/// of round trips whatever its size: the batch is read and written with set-based statements
/// over arrays. Several servers may commit votes at once: each batch locks the rows its rules
/// read (the conversations' revisions shared, its participants exclusively, in id order), so
/// two servers never both accept a participant's duplicate or second change.
final class PostgresVoteCommitter: Sendable {
    struct Request: Sendable {
        let conversationID: Int64
        let slug: String?
        let identity: ParticipantIdentity
        let statementID: Int64
        let value: VoteValue
        let at: Date
    }

    private struct Pending: Sendable {
        let request: Request
        let continuation: CheckedContinuation<VoteReceipt, any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var committing = false
    }

    static let maximumBatch = 4096

    private let client: PostgresClient
    private let logger: Logger
    private let fastVoting: FastVoting
    private let state = Mutex(State())
    private let counters = Mutex(VoteCommitStatistics())

    init(client: PostgresClient, logger: Logger, fastVoting: FastVoting) {
        self.client = client
        self.logger = logger
        self.fastVoting = fastVoting
    }

    var statistics: VoteCommitStatistics { counters.withLock { $0 } }

    func submit(_ request: Request) async throws -> VoteReceipt {
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

    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Pending] in
                let batch = Array(state.pending.prefix(Self.maximumBatch))
                state.pending.removeFirst(batch.count)
                if batch.isEmpty { state.committing = false }
                return batch
            }
            if batch.isEmpty { return }
            await commit(batch)
        }
    }

    private func commit(_ batch: [Pending]) async {
        let requests = batch.map(\.request)
        var outcome: Result<[Result<VoteReceipt, CharterError>], any Error> = .failure(
            StorageUnavailable(reason: "not attempted"))
        // Two servers' batches can deadlock on rows they both lock; PostgreSQL aborts one, which
        // then starts again from the beginning.
        for attempt in 1...3 {
            do {
                let results = try await client.withConnection { connection in
                    try await SQLConnection(connection: connection, logger: logger).inTransaction { sql in
                        try await self.record(requests, sql)
                    }
                }
                outcome = .success(results)
                break
            } catch {
                outcome = .failure(PostgresStore.storageError(error))
                guard attempt < 3, let state = PostgresStore.sqlState(error), state.hasPrefix("40") else { break }
            }
        }
        switch outcome {
        case .failure(let error):
            counters.withLock { $0.failedTransactions += 1 }
            for pending in batch { pending.continuation.resume(throwing: error) }
        case .success(let results):
            counters.withLock {
                $0.transactions += 1
                $0.votes += batch.count
                $0.largestBatch = max($0.largestBatch, batch.count)
            }
            for (pending, result) in zip(batch, results) {
                switch result {
                case .success(let receipt): pending.continuation.resume(returning: receipt)
                case .failure(let error): pending.continuation.resume(throwing: error)
                }
            }
        }
    }

    /// A conversation as the vote path needs it, true while its revision is unchanged.
    struct CachedConversation: Sendable {
        let revision: Int64
        let conversation: Conversation
        let votable: Set<Int64>
    }

    private let conversationCache = Mutex([Int64: CachedConversation]())

    /// A participant's current votes, as the rules need them.
    private struct Ballot {
        var votes: [Int64: (value: VoteValue, event: Int64, at: Date)] = [:]
        var fastVotes = 0
        var flaggedAt: Date?
        var fastChanged = false

        var latest: (statement: Int64, at: Date)? {
            votes.max { $0.value.event < $1.value.event }.map { ($0.key, $0.value.at) }
        }
    }

    private func record(_ requests: [Request], _ sql: SQLConnection) async throws -> [Result<VoteReceipt, CharterError>]
    {
        var results = [Result<VoteReceipt, CharterError>?](repeating: nil, count: requests.count)

        // 1. The conversations, locked against changes (closing, moderation) until this commits.
        let conversationIDs = Array(Set(requests.map(\.conversationID))).sorted()
        var revisions: [Int64: Int64] = [:]
        for row in try await sql.rows(
            """
            SELECT conversation_id, revision FROM conversation_revision WHERE conversation_id = ANY(?)
            ORDER BY conversation_id FOR SHARE
            """, conversationIDs)
        {
            revisions[try row.at(0)] = try row.at(1)
        }
        var conversations: [Int64: CachedConversation] = [:]
        for id in conversationIDs {
            guard let revision = revisions[id] else { continue }
            if let cached = conversationCache.withLock({ $0[id] }), cached.revision == revision {
                conversations[id] = cached
                continue
            }
            guard let conversation = try await sql.conversation(id: id) else { continue }
            let votable = Set(
                try await sql.values(
                    Int64.self,
                    """
                    SELECT s.id FROM statement s JOIN conversation c ON c.id = s.conversation_id
                    WHERE s.conversation_id = ? AND \(visibleStatementSQL)
                    """, id))
            let fresh = CachedConversation(revision: revision, conversation: conversation, votable: votable)
            conversationCache.withLock { $0[id] = fresh }
            conversations[id] = fresh
        }

        // 2. The target of each vote.
        var admitted: [Int] = []
        for (index, request) in requests.enumerated() {
            guard let current = conversations[request.conversationID] else {
                results[index] = .failure(.notFound("Conversation"))
                continue
            }
            let shown = current.votable.contains(request.statementID)
            do {
                var exists = shown
                if !shown {
                    exists =
                        try await sql.value(
                            Int64.self, "SELECT id FROM statement WHERE id = ? AND conversation_id = ?",
                            request.statementID, request.conversationID) != nil
                }
                try VoteRules.checkTarget(
                    conversation: current.conversation, addressedSlug: request.slug, statementExists: exists,
                    shown: shown, at: request.at)
                admitted.append(index)
            } catch let error as CharterError {
                results[index] = .failure(error)
            }
        }

        // 3. The participants: found, or created for a vote that passed its target's checks
        // (a new participant has no vote a rule could refuse).
        let participants = try await resolveParticipants(admitted.map { requests[$0] }, sql)
        var ballots: [Int64: Ballot] = [:]
        let existingIDs = Array(Set(participants.compactMap { $0?.created == false ? $0?.participant.id : nil }))
            .sorted()
        if !existingIDs.isEmpty {
            for row in try await sql.rows(
                "SELECT id, fast_votes, flagged_at FROM participant WHERE id = ANY(?) ORDER BY id FOR UPDATE",
                existingIDs)
            {
                ballots[try row.at(0), default: Ballot()].fastVotes = Int(try row.at(1, as: Int32.self))
                ballots[try row.at(0), default: Ballot()].flaggedAt = try row.at(2, as: Date?.self)
            }
            for row in try await sql.rows(
                "SELECT participant_id, statement_id, value, event_id, created_at FROM vote WHERE participant_id = ANY(?)",
                existingIDs)
            {
                let value = VoteValue(rawValue: Int(try row.at(2, as: Int16.self))) ?? .pass
                ballots[try row.at(0), default: Ballot()].votes[try row.at(1)] = (
                    value, try row.at(3), try row.at(4)
                )
            }
        }

        // 4. The rules, vote by vote in arrival order, against the ballots as the batch leaves them.
        var events: [(request: Request, participant: Int64)] = []
        var nextEvent = Int64.max / 2
        for (position, index) in admitted.enumerated() {
            let request = requests[index]
            guard let (participant, _) = participants[position] else {
                results[index] = .failure(.notFound("Participant"))
                continue
            }
            guard let current = conversations[request.conversationID] else { continue }
            var ballot = ballots[participant.id] ?? Ballot()
            let previous = ballot.votes[request.statementID]?.value
            let latest = ballot.latest
            let outcome: VoteOutcome
            do {
                outcome = try VoteRules.outcome(
                    of: request.value, on: request.statementID, previous: previous,
                    latestVotedStatementID: latest?.statement)
            } catch {
                results[index] = .failure(error)
                continue
            }
            if fastVoting.isFast(previousVoteAt: latest?.at, now: request.at) {
                ballot.fastVotes += 1
                ballot.fastChanged = true
                if ballot.flaggedAt == nil, ballot.fastVotes >= fastVoting.votes { ballot.flaggedAt = request.at }
            }
            nextEvent += 1
            ballot.votes[request.statementID] = (request.value, nextEvent, request.at)
            ballots[participant.id] = ballot
            events.append((request, participant.id))
            let voted = ballot.votes.keys.filter(current.votable.contains).count
            results[index] = .success(
                VoteReceipt(
                    conversation: current.conversation, participant: participant,
                    vote: Vote(
                        participantID: participant.id, statementID: request.statementID, value: request.value,
                        createdAt: request.at),
                    outcome: outcome, progress: VotingProgress(voted: voted, total: current.votable.count)))
        }

        // 5. The writes: the events in order, then each pair's current vote, the fast-voting
        // counts, and a word to the other servers.
        if !events.isEmpty {
            let ids = try await sql.values(
                Int64.self,
                """
                INSERT INTO vote_event (conversation_id, participant_id, statement_id, value, created_at)
                SELECT c, p, s, v, t FROM unnest(?::bigint[], ?::bigint[], ?::bigint[], ?::smallint[], ?::timestamptz[])
                    WITH ORDINALITY AS u(c, p, s, v, t, n)
                ORDER BY n RETURNING id
                """, events.map(\.request.conversationID), events.map(\.participant),
                events.map(\.request.statementID), events.map { Int16($0.request.value.rawValue) },
                events.map(\.request.at)
            ).sorted()
            guard ids.count == events.count else {
                throw StorageUnavailable(reason: "\(events.count) vote events written, \(ids.count) ids returned")
            }
            var latestByPair: [Pair: Int] = [:]
            for (position, event) in events.enumerated() {
                latestByPair[Pair(participant: event.participant, statement: event.request.statementID)] = position
            }
            let positions = latestByPair.values.sorted()
            try await sql.execute(
                """
                INSERT INTO vote (participant_id, statement_id, conversation_id, value, event_id, created_at)
                SELECT * FROM unnest(?::bigint[], ?::bigint[], ?::bigint[], ?::smallint[], ?::bigint[], ?::timestamptz[])
                ON CONFLICT (participant_id, statement_id)
                DO UPDATE SET value = excluded.value, event_id = excluded.event_id, created_at = excluded.created_at
                """, positions.map { events[$0].participant }, positions.map { events[$0].request.statementID },
                positions.map { events[$0].request.conversationID },
                positions.map { Int16(events[$0].request.value.rawValue) }, positions.map { ids[$0] },
                positions.map { events[$0].request.at })
            let fast = ballots.filter(\.value.fastChanged).sorted { $0.key < $1.key }
            if !fast.isEmpty {
                try await sql.execute(
                    """
                    UPDATE participant p SET fast_votes = u.f, flagged_at = CASE WHEN u.flagged THEN u.t ELSE NULL END
                    FROM unnest(?::bigint[], ?::integer[], ?::boolean[], ?::timestamptz[]) AS u(id, f, flagged, t)
                    WHERE p.id = u.id
                    """, fast.map(\.key), fast.map { Int32(clamping: $0.value.fastVotes) },
                    fast.map { $0.value.flaggedAt != nil },
                    fast.map { $0.value.flaggedAt ?? Date(timeIntervalSince1970: 0) })
            }
            try await sql.execute(
                "SELECT pg_notify('charter_votes', c::text) FROM unnest(?::bigint[]) AS c",
                Array(Set(events.map(\.request.conversationID))).sorted())
        }
        return results.map { $0 ?? .failure(.notFound("Conversation")) }
    }

    private struct Pair: Hashable {
        var participant: Int64
        var statement: Int64
    }

    /// For each request, its participant and whether this batch created it; nil for a
    /// participant named by id that the conversation does not have.
    private func resolveParticipants(_ requests: [Request], _ sql: SQLConnection) async throws
        -> [(participant: Participant, created: Bool)?]
    {
        var byID: [Int64: Participant] = [:]
        var byXID: [Key: (Participant, Bool)] = [:]
        var byAnonymous: [Key: (Participant, Bool)] = [:]
        var ids: [Int64] = []
        var xids: [Key: Date] = [:]
        var anonymous: [Key: Date] = [:]
        for request in requests {
            switch request.identity {
            case .id(let id): ids.append(id)
            case .external(let xid):
                xids[Key(conversation: request.conversationID, name: xid)] = min(
                    xids[Key(conversation: request.conversationID, name: xid)] ?? request.at, request.at)
            case .anonymous(let name):
                anonymous[Key(conversation: request.conversationID, name: name)] = min(
                    anonymous[Key(conversation: request.conversationID, name: name)] ?? request.at, request.at)
            }
        }
        if !ids.isEmpty {
            for row in try await sql.rows(
                "SELECT id, conversation_id, xid, created_at FROM participant WHERE id = ANY(?)", Array(Set(ids)))
            {
                let participant = try Participant(row)
                byID[participant.id] = participant
            }
        }
        for (column, wanted) in [("xid", xids), ("anonymous_id", anonymous)] where !wanted.isEmpty {
            let keys = wanted.keys.sorted { ($0.conversation, $0.name) < ($1.conversation, $1.name) }
            var found: [Key: (Participant, Bool)] = [:]
            for row in try await sql.rows(
                """
                INSERT INTO participant (conversation_id, \(column), created_at)
                SELECT * FROM unnest(?::bigint[], ?::text[], ?::timestamptz[])
                ON CONFLICT DO NOTHING RETURNING id, conversation_id, \(column) AS name, xid, created_at
                """, keys.map(\.conversation), keys.map(\.name), keys.map { wanted[$0] ?? Date() })
            {
                found[Key(conversation: try row("conversation_id"), name: try row("name"))] = (
                    try Participant(row), true
                )
            }
            let missing = keys.filter { found[$0] == nil }
            if !missing.isEmpty {
                for row in try await sql.rows(
                    """
                    SELECT p.id, p.conversation_id, p.\(column) AS name, p.xid, p.created_at FROM participant p
                    JOIN unnest(?::bigint[], ?::text[]) AS u(c, n) ON p.conversation_id = u.c AND p.\(column) = u.n
                    """, missing.map(\.conversation), missing.map(\.name))
                {
                    found[Key(conversation: try row("conversation_id"), name: try row("name"))] = (
                        try Participant(row), false
                    )
                }
            }
            if column == "xid" { byXID = found } else { byAnonymous = found }
        }
        // A participant this batch created counts as created for its first vote only.
        var seen = Set<Int64>()
        return requests.map { request -> (Participant, Bool)? in
            let entry: (Participant, Bool)?
            switch request.identity {
            case .id(let id):
                entry = byID[id].flatMap { $0.conversationID == request.conversationID ? ($0, false) : nil }
            case .external(let xid): entry = byXID[Key(conversation: request.conversationID, name: xid)]
            case .anonymous(let name): entry = byAnonymous[Key(conversation: request.conversationID, name: name)]
            }
            guard let (participant, created) = entry else { return nil }
            return (participant, created && seen.insert(participant.id).inserted)
        }
    }

    private struct Key: Hashable {
        var conversation: Int64
        var name: String
    }
}
