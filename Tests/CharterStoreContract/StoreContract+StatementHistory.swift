import CharterDomain
import CharterStore
import Foundation
import Testing

// A statement's page: its scores over time and its moderation history.
extension StoreContract {
    static let statementHistory: [StoreRequirement] = [
        StoreRequirement("aStatementsScoresAreKeptPerHourAndItsAuditEntriesFound") { f in
            let c = try await f.conversation()
            let s = try await f.seed(c, ["A", "B"])
            let other = try await f.seed(try await f.conversation("other"), ["X"])
            #expect(try await f.store.statementScoreHistory(statementID: s[0].id, limit: 10).isEmpty)
            let start = Date(timeIntervalSince1970: 1_800_000_000)  // on the hour
            func save(at minutes: Double, gac: Double) async throws {
                try await f.store.saveAnalysis(
                    StoredAnalysis(
                        conversationID: c.id, computedAt: start.addingTimeInterval(minutes * 60), voteCount: 1,
                        lastVoteEvent: 0, durationMs: 1, parameters: "{}", result: Data("{}".utf8),
                        statementScores: [
                            StatementScore(statementID: s[0].id, gac: gac, ccai: gac / 2, votes: Int(minutes)),
                            StatementScore(statementID: s[1].id, gac: 0.1, ccai: 0.05, votes: 1),
                            // Another conversation's statement is no part of this analysis.
                            StatementScore(statementID: other[0].id, gac: 0.9, ccai: 0.9, votes: 9),
                        ]))
            }
            try await save(at: 5, gac: 0.2)
            try await save(at: 50, gac: 0.4)  // the same hour: replaces
            try await save(at: 70, gac: 0.6)
            try await save(at: 190, gac: 0.8)
            let history = try await f.store.statementScoreHistory(statementID: s[0].id, limit: 10)
            #expect(
                history == [
                    StatementScorePoint(hour: start, gac: 0.4, ccai: 0.2, votes: 50),
                    StatementScorePoint(hour: start.addingTimeInterval(3600), gac: 0.6, ccai: 0.3, votes: 70),
                    StatementScorePoint(hour: start.addingTimeInterval(3 * 3600), gac: 0.8, ccai: 0.4, votes: 190),
                ])
            let recent = try await f.store.statementScoreHistory(statementID: s[0].id, limit: 2)
            #expect(recent.map(\.gac) == [0.6, 0.8], "the last hours, oldest first")
            #expect(try await f.store.statementScoreHistory(statementID: other[0].id, limit: 10).isEmpty)

            _ = try await f.store.moderate(
                statementIDs: [s[0].id], conversationID: c.id, action: .reject(reason: "off topic"), by: f.organiser)
            _ = try await f.store.moderate(
                statementIDs: [s[0].id], conversationID: c.id, action: .accept, by: f.organiser)
            let audit = try await f.store.auditLog(statementID: s[0].id, limit: 10)
            let actions = audit.map(\.action)
            #expect(Array(actions.prefix(2)) == ["statement.accept", "statement.reject"], "newest first")
            #expect(audit.allSatisfy { $0.statementID == s[0].id })
            #expect(try await f.store.auditLog(statementID: s[0].id, limit: 1).count == 1)
            #expect(
                try await f.store.auditLog(statementID: s[1].id, limit: 10).allSatisfy { $0.statementID == s[1].id })
        }
    ]
}
