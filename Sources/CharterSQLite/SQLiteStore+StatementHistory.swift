public import CharterDomain
public import CharterStore
import Foundation
import GRDB

extension SQLiteStore {
    public func statementScoreHistory(statementID: Int64, limit: Int) async throws -> [StatementScorePoint] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT hour, gac, ccai, votes FROM (
                        SELECT hour, gac, ccai, votes FROM statement_score WHERE statement_id = ?
                        ORDER BY hour DESC LIMIT ?
                    ) ORDER BY hour
                    """,
                arguments: [statementID, max(0, limit)]
            ).map { StatementScorePoint(hour: $0[0], gac: $0[1], ccai: $0[2], votes: $0[3]) }
        }
    }

    public func auditLog(statementID: Int64, limit: Int) async throws -> [AuditEntry] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM audit_log WHERE statement_id = ? ORDER BY id DESC LIMIT ?",
                arguments: [statementID, max(0, min(limit, 500))]
            ).map(AuditEntry.init(row:))
        }
    }

    /// Keeps each statement's scores under the analysis' hour, the later analysis of an hour
    /// replacing the earlier. In the caller's transaction (the one saving the analysis).
    static func recordStatementScores(
        _ db: Database, conversationID: Int64, _ scores: [StatementScore], at date: Date
    ) throws {
        guard !scores.isEmpty else { return }
        let hour = StatementScore.hour(of: date)
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO statement_score (statement_id, hour, gac, ccai, votes) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (statement_id, hour) DO UPDATE SET gac = excluded.gac, ccai = excluded.ccai,
                    votes = excluded.votes
                """)
        let known = Set(
            try Int64.fetchAll(
                db, sql: "SELECT id FROM statement WHERE conversation_id = ?", arguments: [conversationID]))
        for score in scores where known.contains(score.statementID) {
            try statement.execute(arguments: [score.statementID, hour, score.gac, score.ccai, score.votes])
        }
    }
}
