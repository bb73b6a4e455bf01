import CharterDomain
import CharterSQLite
import CharterStore
import CharterTestSupport
import Foundation
import GRDB
import Testing

@Suite struct SQLiteDurabilityTests {
    @Test func theWriterCommitsWithSynchronousFullInWALMode() throws {
        let database = try TemporaryDatabase()
        let store = try database.open()
        #expect(try store.writerSynchronousMode() == 2)
        let journal = try store.pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(journal == "wal")
        let foreignKeys = try store.pool.read { db in try Int.fetchOne(db, sql: "PRAGMA foreign_keys") }
        #expect(foreignKeys == 1)
    }

    @Test func reopeningTheFileKeepsEverythingAndMigratesOnce() async throws {
        let database = try TemporaryDatabase()
        var statementID: Int64 = 0
        do {
            let store = try database.open()
            let c = try await store.createConversation(.init(slug: "keep", title: "T", question: "Q"), by: .system)
            statementID = try await store.addSeedStatements(conversationID: c.id, texts: ["One"], by: .system).added[0]
                .id
            _ = try await store.castVote(
                conversationID: c.id, participant: .external("p1"), statementID: statementID, value: .disagree,
                at: Date())
        }
        let reopened = try database.open()
        let c = try await reopened.conversation(slug: "keep")
        let votes = try await reopened.votes(conversationID: try #require(c).id)
        #expect(votes.map(\.statementID) == [statementID])
        #expect(votes.map(\.value) == [.disagree])
        let migrations = try await reopened.pool.read { db in
            try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid")
        }
        #expect(migrations == SQLiteStore.migrationIdentifiers)
        #expect(migrations.first == "v1 core schema" && migrations.count >= 3)
    }

    @Test func theVoteEventLogIsAppendOnly() async throws {
        let database = try TemporaryDatabase()
        let store = try database.open()
        let c = try await store.createConversation(.init(slug: "log", title: "T", question: "Q"), by: .system)
        let s = try await store.addSeedStatements(conversationID: c.id, texts: ["One"], by: .system).added[0]
        _ = try await store.castVote(
            conversationID: c.id, participant: .anonymous("a"), statementID: s.id, value: .agree, at: Date())
        #expect(throws: DatabaseError.self) {
            try store.pool.write { db in try db.execute(sql: "UPDATE vote_event SET value = -1") }
        }
        #expect(throws: DatabaseError.self) {
            try store.pool.write { db in try db.execute(sql: "DELETE FROM vote_event") }
        }
        let events = try await store.voteEvents(conversationID: c.id)
        #expect(events.map(\.value) == [.agree])
    }

    @Test func twoConnectionsOnOneFileWaitForEachOther() async throws {
        // An admin command and the server may write the same file at once.
        let database = try TemporaryDatabase()
        let first = try database.open()
        let second = try database.open()
        let c = try await first.createConversation(.init(slug: "shared", title: "T", question: "Q"), by: .system)
        let s = try await first.addSeedStatements(conversationID: c.id, texts: ["One"], by: .system).added[0]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<50 {
                let store = i.isMultiple(of: 2) ? first : second
                group.addTask {
                    _ = try await store.castVote(
                        conversationID: c.id, participant: .anonymous("p\(i)"), statementID: s.id, value: .agree,
                        at: Date())
                }
            }
            try await group.waitForAll()
        }
        let votes = try await second.votes(conversationID: c.id)
        #expect(votes.count == 50)
    }
}
