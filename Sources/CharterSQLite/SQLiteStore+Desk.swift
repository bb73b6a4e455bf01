public import CharterDomain
public import CharterStore
import Foundation
import GRDB

// The organiser's desk: rewording statements in the moderation queue, vote counts per
// statement, a conversation's activity and how stable its number of groups has been.
extension SQLiteStore {
    public func rewordStatement(id: Int64, conversationID: Int64, text: String, by actor: Actor) async throws
        -> CharterDomain.Statement
    {
        try await write { db in
            let (conversation, before) = try Self.fetchStatementToReword(db, id: id, conversationID: conversationID)
            let text = try StatementText.validated(text, maxLength: conversation.settings.maxStatementLength)
            guard text != before.text else { return before }
            let othersVoted =
                try Bool.fetchOne(
                    db,
                    sql: """
                        SELECT 1 FROM vote WHERE statement_id = ?
                            AND participant_id IS NOT (SELECT author_id FROM statement WHERE id = ?) LIMIT 1
                        """,
                    arguments: [id, id]) ?? false
            try StatementRewording.checkEditable(othersVoted: othersVoted)
            let key = StatementText.duplicateKey(text)
            if let existing = try Int64.fetchOne(
                db, sql: "SELECT id FROM statement WHERE conversation_id = ? AND duplicate_key = ? AND id != ?",
                arguments: [conversationID, key, id])
            {
                throw CharterError.duplicateStatement(existingID: existing)
            }
            try db.execute(
                sql: """
                    UPDATE statement SET text = ?, duplicate_key = ?, original_text = COALESCE(original_text, text)
                    WHERE id = ?
                    """,
                arguments: [text, key, id])
            try Self.audit(
                db, actor, .statementReword, conversationID: conversationID, statementID: id,
                detail: StatementRewording.auditDetail(from: before.text, to: text))
            return try Self.fetchStatement(db, id: id)!
        }
    }

    public func addRewordedCopy(of id: Int64, conversationID: Int64, text: String, by actor: Actor) async throws
        -> CharterDomain.Statement
    {
        try await write { db in
            let (conversation, original) = try Self.fetchStatementToReword(
                db, id: id, conversationID: conversationID)
            let text = try StatementText.validated(text, maxLength: conversation.settings.maxStatementLength)
            // A rewording is in the language of the statement it rewords.
            let copy = try Self.insertStatement(
                db, conversationID: conversationID, authorID: nil, text: text, isSeed: true, moderation: .accepted,
                language: original.language, at: Date())
            try db.execute(sql: "UPDATE statement SET reworded_from = ? WHERE id = ?", arguments: [id, copy.id])
            try Self.audit(
                db, actor, .statementRewordedCopy, conversationID: conversationID, statementID: copy.id,
                detail: StatementRewording.copyAuditDetail(of: original.id, from: original.text, to: text))
            return try Self.fetchStatement(db, id: copy.id)!
        }
    }

    public func voteTallies(conversationID: Int64, statementIDs: [Int64]) async throws -> [Int64: VoteTally] {
        let ids = Array(Set(statementIDs)).sorted()
        guard !ids.isEmpty else { return [:] }
        return try await pool.read { db in
            var tallies: [Int64: VoteTally] = [:]
            // At most 500 ids a query, well under SQLite's limit on parameters.
            for start in stride(from: 0, to: ids.count, by: 500) {
                let chunk = Array(ids[start..<min(ids.count, start + 500)])
                let placeholders = chunk.map { _ in "?" }.joined(separator: ",")
                let rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT statement_id, SUM(value = 1), SUM(value = -1), SUM(value = 0) FROM vote
                        WHERE conversation_id = ? AND statement_id IN (\(placeholders)) GROUP BY statement_id
                        """,
                    arguments: StatementArguments([conversationID] + chunk))
                for row in rows {
                    tallies[row[0]] = VoteTally(agree: row[1], disagree: row[2], pass: row[3])
                }
            }
            return tallies
        }
    }

    public func activity(conversationID: Int64) async throws -> ConversationActivity {
        try await pool.read { db in
            // Dates are stored as "yyyy-MM-dd HH:mm:ss.SSS" (UTC): the first 13 characters name the hour.
            func perHour(_ table: String) throws -> [Int64: Int] {
                let rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT CAST(strftime('%s', hour || ':00:00') AS INTEGER), n FROM (
                            SELECT substr(created_at, 1, 13) AS hour, COUNT(*) AS n FROM \(table)
                            WHERE conversation_id = ? GROUP BY hour)
                        """,
                    arguments: [conversationID])
                var counts: [Int64: Int] = [:]
                for row in rows {
                    guard let start: Int64 = row[0] else { continue }
                    counts[start, default: 0] += row[1]
                }
                return counts
            }
            let events = try perHour("vote_event")
            let joined = try perHour("participant")
            let votes =
                try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM vote WHERE conversation_id = ?", arguments: [conversationID])
                ?? 0
            return ConversationActivity(
                participants: joined.values.reduce(0, +), votes: votes, voteEvents: events.values.reduce(0, +),
                hours: Set(events.keys).union(joined.keys).sorted().map {
                    ActivityHour(
                        start: Date(timeIntervalSince1970: TimeInterval($0)), voteEvents: events[$0] ?? 0,
                        participants: joined[$0] ?? 0)
                })
        }
    }

    public func groupCountHistory(conversationID: Int64, limit: Int) async throws -> [GroupCountRun] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT group_count, analyses, first_at, last_at FROM analysis_group_count
                    WHERE conversation_id = ? ORDER BY id DESC LIMIT ?
                    """,
                arguments: [conversationID, max(0, limit)]
            ).map { GroupCountRun(groups: $0[0], analyses: $0[1], firstAt: $0[2], lastAt: $0[3]) }
        }
    }

    /// Counts one more analysis that found `groups` groups: the latest run grows when it found
    /// as many, else a new run starts. In the caller's transaction (the one saving the analysis).
    static func recordGroupCount(_ db: Database, conversationID: Int64, groups: Int, at date: Date) throws {
        let latest = try Row.fetchOne(
            db,
            sql: "SELECT id, group_count FROM analysis_group_count WHERE conversation_id = ? ORDER BY id DESC LIMIT 1",
            arguments: [conversationID])
        if let latest, latest[1] as Int == groups {
            try db.execute(
                sql: "UPDATE analysis_group_count SET analyses = analyses + 1, last_at = ? WHERE id = ?",
                arguments: [date, latest[0] as Int64])
        } else {
            try db.execute(
                sql: """
                    INSERT INTO analysis_group_count (conversation_id, group_count, analyses, first_at, last_at)
                    VALUES (?, ?, 1, ?, ?)
                    """,
                arguments: [conversationID, groups, date, date])
        }
    }

    static func fetchStatement(_ db: Database, id: Int64) throws -> CharterDomain.Statement? {
        try Row.fetchOne(db, sql: "SELECT * FROM statement WHERE id = ?", arguments: [id]).map(Statement.init(row:))
    }

    private static func fetchStatementToReword(_ db: Database, id: Int64, conversationID: Int64) throws
        -> (Conversation, CharterDomain.Statement)
    {
        guard let conversation = try fetchConversation(db, id: conversationID) else {
            throw CharterError.notFound("Conversation")
        }
        guard let statement = try fetchStatement(db, id: id), statement.conversationID == conversationID else {
            throw CharterError.notFound("Statement")
        }
        return (conversation, statement)
    }
}
