import CharterDomain
import CharterStore
import CharterTestSupport
import Foundation
import GRDB
import Testing

@testable import CharterSQLite

@Suite struct BackupTests {
    @Test func aBackupTakenUnderLoadRestoresToAConsistentDatabase() async throws {
        let database = try TemporaryDatabase()
        let store = try database.open()
        let (conversation, statements) = try await GroupCommitTests.conversation(store, statements: 50)
        // Votes acknowledged before the backup starts must be in it.
        for index in 0..<100 {
            _ = try await store.castVote(
                conversationID: conversation.id, participant: .external("early\(index % 10)"),
                statementID: statements[index / 10].id, value: .agree, at: Date())
        }
        let load = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<8 {
                    group.addTask {
                        for index in 0..<50 {
                            _ = try await store.castVote(
                                conversationID: conversation.id, participant: .external("load\(writer)"),
                                statementID: statements[index].id, value: .disagree, at: Date())
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        let backup = database.folder.appendingPathComponent("backup.sqlite").path
        try store.backup(to: backup)
        try await load.value

        #expect(throws: SQLiteStore.BackupError.self) { try store.backup(to: backup) }
        let restoredPath = database.folder.appendingPathComponent("restored.sqlite").path
        try SQLiteStore.restore(from: backup, to: restoredPath)
        let restored = try SQLiteStore(path: restoredPath)
        let events = try await restored.voteEvents(conversationID: conversation.id)
        let votes = try await restored.votes(conversationID: conversation.id)
        #expect(events.count >= 100 && events.count <= 500)
        #expect(votes.count == events.count)
        #expect(
            try await restored.existingParticipant(conversationID: conversation.id, identity: .external("early9"))
                != nil)
        // The log and the current votes agree: each vote row points at its pair's latest event.
        let mismatches = try await restored.pool.read { db in
            try Int.fetchOne(
                db,
                sql: """
                    SELECT COUNT(*) FROM vote v
                    WHERE v.event_id != (SELECT MAX(id) FROM vote_event e
                                         WHERE e.participant_id = v.participant_id AND e.statement_id = v.statement_id)
                       OR v.value != (SELECT value FROM vote_event WHERE id = v.event_id)
                    """)
        }
        #expect(mismatches == 0)
        let integrity = try await restored.pool.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") }
        #expect(integrity == "ok")
    }

    @Test func restoreRefusesWhatIsNotAnIntactCharterBackup() throws {
        let database = try TemporaryDatabase()
        let target = database.folder.appendingPathComponent("target.sqlite").path
        let garbage = database.folder.appendingPathComponent("garbage.sqlite").path
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: garbage))
        let foreign = database.folder.appendingPathComponent("foreign.sqlite").path
        try DatabaseQueue(path: foreign).write { db in try db.execute(sql: "CREATE TABLE t (x)") }
        for path in [garbage, foreign, database.folder.appendingPathComponent("missing").path] {
            #expect(throws: SQLiteStore.BackupError.self) { try SQLiteStore.restore(from: path, to: target) }
        }
        #expect(!FileManager.default.fileExists(atPath: target))
    }
}
