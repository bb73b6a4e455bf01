import CharterDomain
import CharterStore
import CharterTestSupport
import Foundation
import GRDB
import Synchronization
import Testing

@testable import CharterSQLite

@Suite struct GroupCommitTests {
    static func conversation(_ store: SQLiteStore, statements: Int = 20) async throws -> (
        Conversation, [CharterDomain.Statement]
    ) {
        let conversation = try await store.createConversation(
            ConversationSettings(slug: "town", title: "Town", question: "?"), by: .system)
        let added = try await store.addSeedStatements(
            conversationID: conversation.id, texts: (0..<statements).map { "Statement number \($0)." }, by: .system
        ).added
        return (conversation, added)
    }

    /// Holds the database's single writer until released, as a long transaction would.
    final class WriterHold: Sendable {
        private let release = Mutex<CheckedContinuation<Void, Never>?>(nil)
        private let held = Mutex(false)

        func hold(_ pool: DatabasePool) -> Task<Void, any Error> {
            Task {
                try await pool.writeWithoutTransaction { _ in
                    let semaphore = DispatchSemaphore(value: 0)
                    self.held.withLock { $0 = true }
                    Task {
                        await withCheckedContinuation { continuation in
                            self.release.withLock { $0 = continuation }
                        }
                        semaphore.signal()
                    }
                    semaphore.wait()
                }
            }
        }

        var isHeld: Bool { held.withLock { $0 } }
        var isReleasable: Bool { release.withLock { $0 != nil } }
        func free() { release.withLock { $0?.resume() } }
    }

    static func until(_ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(5))
        }
        return false
    }

    /// The vote path keeps conversations in memory between transactions; a change made through
    /// another connection (another process, say `charter admin`) must reach it.
    @Test func aChangeMadeElsewhereReachesTheNextVote() async throws {
        let database = try TemporaryDatabase()
        let store = try database.open()
        let (conversation, statements) = try await Self.conversation(store, statements: 4)
        let other = try database.open()
        let now = Date()
        func vote(_ xid: String, _ index: Int) async throws -> VoteReceipt {
            try await store.castVote(
                conversationID: conversation.id, participant: .external(xid), statementID: statements[index].id,
                value: .agree, at: now)
        }
        let first = try await vote("a", 0)
        #expect(first.progress == VotingProgress(voted: 1, total: 4))

        _ = try await other.moderate(
            statementIDs: [statements[1].id], conversationID: conversation.id, action: .reject(reason: "Off topic."),
            by: .system)
        await #expect(throws: CharterError.statementNotVotable) { try await vote("a", 1) }
        let afterRejection = try await vote("a", 2)
        #expect(afterRejection.progress == VotingProgress(voted: 2, total: 3))

        let added = try await other.addSeedStatements(
            conversationID: conversation.id, texts: ["A statement added later."], by: .system
        ).added
        let onTheNewOne = try await store.castVote(
            conversationID: conversation.id, participant: .external("a"), statementID: added[0].id, value: .pass,
            at: now)
        #expect(onTheNewOne.progress == VotingProgress(voted: 3, total: 4))

        var settings = conversation.settings
        settings.state = .closed
        _ = try await other.updateConversation(id: conversation.id, settings, by: .system)
        await #expect(throws: CharterError.conversationClosed) { try await vote("b", 3) }

        settings.state = .open
        settings.slug = "renamed"
        _ = try await other.updateConversation(id: conversation.id, settings, by: .system)
        await #expect(throws: CharterError.notFound("Conversation")) {
            try await store.castVote(
                conversationID: conversation.id, slug: "town", participant: .external("b"),
                statementID: statements[3].id, value: .agree, at: now)
        }
        let renamed = try await store.castVote(
            conversationID: conversation.id, slug: "renamed", participant: .external("b"),
            statementID: statements[3].id, value: .agree, at: now)
        #expect(renamed.conversation.slug == "renamed")
    }

    @Test func votesThatArriveDuringACommitShareTheNextTransaction() async throws {
        let database = try TemporaryDatabase()
        let store = try database.open()
        let (conversation, statements) = try await Self.conversation(store)
        let hold = WriterHold()
        let holder = hold.hold(store.pool)
        #expect(try await Self.until { hold.isHeld && hold.isReleasable })
        let before = store.voteCommitStatistics

        let votes = 100
        let receipts = Task {
            try await withThrowingTaskGroup(of: VoteReceipt.self) { group in
                for index in 0..<votes {
                    group.addTask {
                        try await store.castVote(
                            conversationID: conversation.id, participant: .external("p\(index)"),
                            statementID: statements[index % statements.count].id, value: .agree, at: Date())
                    }
                }
                return try await group.reduce(into: [VoteReceipt]()) { $0.append($1) }
            }
        }
        // Every vote is either in the transaction waiting for the writer or queued behind it.
        #expect(try await Self.until { store.votes.unanswered == votes })
        hold.free()
        try await holder.value
        let acknowledged = try await receipts.value
        #expect(acknowledged.count == votes)
        let after = store.voteCommitStatistics
        // So once the writer is free they take at most two transactions, not a hundred.
        #expect((1...2).contains(after.transactions - before.transactions))
        #expect(after.largestBatch >= votes / 2)
        #expect(try await store.votes(conversationID: conversation.id).count == votes)
        #expect(try await store.voteEvents(conversationID: conversation.id).count == votes)
        // Each receipt's progress was read after its commit.
        #expect(acknowledged.allSatisfy { $0.progress.voted == 1 && $0.progress.total == statements.count })
    }

    @Test func aVoteThatBreaksARuleFailsAloneInItsBatch() async throws {
        let database = try TemporaryDatabase()
        let store = try database.open()
        let (conversation, statements) = try await Self.conversation(store)
        _ = try await store.castVote(
            conversationID: conversation.id, participant: .external("repeat"), statementID: statements[0].id,
            value: .agree, at: Date())
        let hold = WriterHold()
        let holder = hold.hold(store.pool)
        #expect(try await Self.until { hold.isHeld && hold.isReleasable })
        // In one batch: good votes, a duplicate, a vote on a missing statement, a vote for a
        // participant id that does not exist.
        enum Kind: Sendable {
            case good(Int)
            case duplicate, missingStatement, unknownParticipant
        }
        let kinds: [Kind] = (0..<30).map { .good($0) } + [.duplicate, .missingStatement, .unknownParticipant]
        let outcomes = Task {
            await withTaskGroup(of: (String, Bool).self) { group in
                for kind in kinds {
                    group.addTask {
                        let (identity, statement, label): (ParticipantIdentity, Int64, String) =
                            switch kind {
                            case .good(let i): (.external("g\(i)"), statements[i % statements.count].id, "good")
                            case .duplicate: (.external("repeat"), statements[0].id, "duplicate")
                            case .missingStatement: (.external("m"), 999_999, "missing")
                            case .unknownParticipant: (.id(999_999), statements[0].id, "unknown")
                            }
                        do {
                            _ = try await store.castVote(
                                conversationID: conversation.id, participant: identity, statementID: statement,
                                value: .agree, at: Date())
                            return (label, true)
                        } catch {
                            return (label, false)
                        }
                    }
                }
                return await group.reduce(into: [(String, Bool)]()) { $0.append($1) }
            }
        }
        #expect(try await Self.until { store.votes.unanswered == kinds.count })
        hold.free()
        try await holder.value
        let results = await outcomes.value
        #expect(results.filter { $0.0 == "good" }.allSatisfy { $0.1 })
        #expect(results.filter { $0.0 != "good" }.allSatisfy { !$0.1 })
        #expect(try await store.votes(conversationID: conversation.id).count == 31)
        #expect(try await store.voteEvents(conversationID: conversation.id).count == 31)
        // The refused "m" participant was created inside its savepoint and rolled back with it.
        #expect(try await store.existingParticipant(conversationID: conversation.id, identity: .external("m")) == nil)
    }

    @Test func aFullDiskFailsEveryVoteOfTheTransactionAndTheStoreRecovers() async throws {
        let database = try TemporaryDatabase()
        let store = try database.open()
        let (conversation, statements) = try await Self.conversation(store)
        let before = try await store.voteEvents(conversationID: conversation.id).count
        // SQLite's own "disk is full": the file may not grow past its current size.
        try await store.pool.writeWithoutTransaction { db in
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            try db.execute(sql: "PRAGMA max_page_count = \(pages)")
        }
        var failures = 0
        for index in 0..<200 {
            do {
                _ = try await store.castVote(
                    conversationID: conversation.id, participant: .external("full\(index)"),
                    statementID: statements[index % statements.count].id, value: .agree, at: Date())
            } catch is StorageUnavailable {
                failures += 1
            }
        }
        #expect(failures > 0)
        let stored = try await store.voteEvents(conversationID: conversation.id).count
        // Whatever fit before the disk filled is there with its vote row; nothing half-written.
        #expect(try await store.votes(conversationID: conversation.id).count == stored)
        #expect(stored - before + failures == 200)
        #expect(store.voteCommitStatistics.failedTransactions > 0)

        try await store.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA max_page_count = 1073741823") }
        let receipt = try await store.castVote(
            conversationID: conversation.id, participant: .external("after"), statementID: statements[0].id,
            value: .disagree, at: Date())
        #expect(receipt.outcome == .recorded)
        let integrity = try await store.pool.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") }
        #expect(integrity == "ok")
    }

    @Test func participantsVotingFasterThanAPersonCanReadAreFlagged() async throws {
        let database = try TemporaryDatabase()
        let store = try SQLiteStore(path: database.path, fastVoting: FastVoting(interval: 0.5, votes: 5))
        let (conversation, statements) = try await Self.conversation(store)
        let start = Date()
        for index in 0..<8 {
            _ = try await store.castVote(
                conversationID: conversation.id, participant: .external("bot"), statementID: statements[index].id,
                value: .agree, at: start.addingTimeInterval(Double(index) * 0.1))
            _ = try await store.castVote(
                conversationID: conversation.id, participant: .external("human"), statementID: statements[index].id,
                value: .agree, at: start.addingTimeInterval(Double(index) * 4))
        }
        let flagged = try await store.pool.read { db in
            try String.fetchAll(db, sql: "SELECT xid FROM participant WHERE flagged_at IS NOT NULL")
        }
        #expect(flagged == ["bot"])
    }
}

@Suite struct DatabaseDateTextTests {
    @Test func writesExactlyWhatGRDBWritesForADate() throws {
        var generator = SystemRandomNumberGenerator()
        var dates = [
            Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: -0.0005), Date(timeIntervalSince1970: 1.9995),
            Date(timeIntervalSince1970: 951_782_400),  // 2000-02-29
            Date(timeIntervalSince1970: -2_208_988_800.25), Date(timeIntervalSince1970: 4_102_444_799.999),
            Date(),
        ]
        for _ in 0..<5000 {
            dates.append(Date(timeIntervalSince1970: Double.random(in: -2.2e9...4.1e9, using: &generator)))
            dates.append(
                Date(timeIntervalSince1970: Double(Int.random(in: 0...4_000_000_000, using: &generator)) / 1000))
        }
        for date in dates {
            let expected = String.fromDatabaseValue(date.databaseValue)
            let written = DatabaseDateText.text(date)
            #expect(written == expected, "\(date.timeIntervalSince1970)")
        }
    }
}
