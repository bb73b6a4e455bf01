public import CharterDomain
public import CharterStore
import Foundation

extension PostgresStore {
    public func statementScoreHistory(statementID: Int64, limit: Int) async throws -> [StatementScorePoint] {
        try await readOne { sql in
            try await sql.rows(
                """
                SELECT hour, gac, ccai, votes FROM (
                    SELECT hour, gac, ccai, votes FROM statement_score WHERE statement_id = ?
                    ORDER BY hour DESC LIMIT ?
                ) recent ORDER BY hour
                """, statementID, Int64(max(0, limit))
            ).map { row in
                StatementScorePoint(
                    hour: try row.at(0, as: Date.self), gac: try row.at(1, as: Double.self),
                    ccai: try row.at(2, as: Double.self), votes: Int(try row.at(3, as: Int32.self)))
            }
        }
    }

    public func auditLog(statementID: Int64, limit: Int) async throws -> [AuditEntry] {
        try await readOne { sql in
            try await sql.rows(
                "SELECT * FROM audit_log WHERE statement_id = ? ORDER BY id DESC LIMIT ?", statementID,
                Int64(max(0, min(limit, 500)))
            ).map(AuditEntry.init)
        }
    }
}

extension SQLConnection {
    /// Keeps each statement's scores under the analysis' hour, the later analysis of an hour
    /// replacing the earlier; one statement for the whole analysis. In the caller's
    /// transaction (the one saving the analysis).
    func recordStatementScores(conversationID: Int64, _ scores: [StatementScore], at date: Date) async throws {
        guard !scores.isEmpty else { return }
        try await execute(
            """
            INSERT INTO statement_score (statement_id, hour, gac, ccai, votes)
            SELECT u.s, ?, u.g, u.c, u.v FROM unnest(?::bigint[], ?::float8[], ?::float8[], ?::integer[]) AS u(s, g, c, v)
            WHERE EXISTS (SELECT 1 FROM statement WHERE statement.id = u.s AND statement.conversation_id = ?)
            ON CONFLICT (statement_id, hour) DO UPDATE SET gac = excluded.gac, ccai = excluded.ccai, votes = excluded.votes
            """, StatementScore.hour(of: date), scores.map(\.statementID), scores.map(\.gac), scores.map(\.ccai),
            scores.map { Int32(clamping: $0.votes) }, conversationID)
    }
}
