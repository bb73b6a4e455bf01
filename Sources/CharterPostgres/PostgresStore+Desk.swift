public import CharterDomain
public import CharterStore
import Foundation

// The organiser's desk: rewording statements in the moderation queue, vote counts per
// statement, a conversation's activity and how stable its number of groups has been.
extension PostgresStore {
    public func rewordStatement(id: Int64, conversationID: Int64, text: String, by actor: Actor) async throws
        -> Statement
    {
        try await write { sql in
            let (conversation, before) = try await sql.statementToReword(id: id, conversationID: conversationID)
            let text = try StatementText.validated(text, maxLength: conversation.settings.maxStatementLength)
            guard text != before.text else { return before }
            // The row lock above waits for a vote being recorded on the statement (its foreign key
            // check holds a key-share lock), so a vote is either counted here or comes after.
            let othersVoted =
                try await sql.value(
                    Int32.self,
                    """
                    SELECT 1 FROM vote WHERE statement_id = ? AND participant_id IS DISTINCT FROM ? LIMIT 1
                    """, id, before.authorID) != nil
            try StatementRewording.checkEditable(othersVoted: othersVoted)
            let key = StatementText.duplicateKey(text)
            if let existing = try await sql.value(
                Int64.self, "SELECT id FROM statement WHERE conversation_id = ? AND duplicate_key = ? AND id <> ?",
                conversationID, key, id)
            {
                throw CharterError.duplicateStatement(existingID: existing)
            }
            guard
                let after = try await sql.row(
                    """
                    UPDATE statement SET text = ?, duplicate_key = ?, original_text = COALESCE(original_text, text)
                    WHERE id = ? RETURNING *
                    """, text, key, id)
            else { throw CharterError.notFound("Statement") }
            try await sql.audit(
                actor, .statementReword, conversationID: conversationID, statementID: id,
                detail: StatementRewording.auditDetail(from: before.text, to: text))
            return try Statement(after)
        }
    }

    public func addRewordedCopy(of id: Int64, conversationID: Int64, text: String, by actor: Actor) async throws
        -> Statement
    {
        try await write { sql in
            let (conversation, original) = try await sql.statementToReword(id: id, conversationID: conversationID)
            let text = try StatementText.validated(text, maxLength: conversation.settings.maxStatementLength)
            // A rewording is in the language of the statement it rewords.
            let copy = try await sql.insertStatement(
                conversationID: conversationID, authorID: nil, text: text, isSeed: true, moderation: .accepted,
                language: original.language, at: Date())
            guard
                let linked = try await sql.row(
                    "UPDATE statement SET reworded_from = ? WHERE id = ? RETURNING *", id, copy.id)
            else { throw CharterError.notFound("Statement") }
            try await sql.audit(
                actor, .statementRewordedCopy, conversationID: conversationID, statementID: copy.id,
                detail: StatementRewording.copyAuditDetail(of: original.id, from: original.text, to: text))
            return try Statement(linked)
        }
    }

    public func voteTallies(conversationID: Int64, statementIDs: [Int64]) async throws -> [Int64: VoteTally] {
        let ids = Array(Set(statementIDs)).sorted()
        guard !ids.isEmpty else { return [:] }
        return try await readOne { sql in
            var tallies: [Int64: VoteTally] = [:]
            for row in try await sql.rows(
                """
                SELECT statement_id, COUNT(*) FILTER (WHERE value = 1), COUNT(*) FILTER (WHERE value = -1),
                    COUNT(*) FILTER (WHERE value = 0)
                FROM vote WHERE conversation_id = ? AND statement_id = ANY(?) GROUP BY statement_id
                """, conversationID, ids)
            {
                tallies[try row.at(0, as: Int64.self)] = VoteTally(
                    agree: Int(try row.at(1, as: Int64.self)), disagree: Int(try row.at(2, as: Int64.self)),
                    pass: Int(try row.at(3, as: Int64.self)))
            }
            return tallies
        }
    }

    public func activity(conversationID: Int64) async throws -> ConversationActivity {
        try await read { sql in
            func perHour(_ table: String) async throws -> [Int64: Int] {
                var counts: [Int64: Int] = [:]
                for row in try await sql.rows(
                    """
                    SELECT (floor(extract(epoch FROM created_at) / 3600) * 3600)::BIGINT AS hour, COUNT(*)
                    FROM \(table) WHERE conversation_id = ? GROUP BY hour
                    """, conversationID)
                {
                    counts[try row.at(0, as: Int64.self), default: 0] += Int(try row.at(1, as: Int64.self))
                }
                return counts
            }
            let events = try await perHour("vote_event")
            let joined = try await perHour("participant")
            let votes = try await sql.count("SELECT COUNT(*) FROM vote WHERE conversation_id = ?", conversationID)
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
        try await readOne { sql in
            try await sql.rows(
                """
                SELECT group_count, analyses, first_at, last_at FROM analysis_group_count
                WHERE conversation_id = ? ORDER BY id DESC LIMIT ?
                """, conversationID, Int64(max(0, limit))
            ).map {
                GroupCountRun(
                    groups: Int(try $0.at(0, as: Int32.self)), analyses: Int(try $0.at(1, as: Int32.self)),
                    firstAt: try $0.at(2), lastAt: try $0.at(3))
            }
        }
    }
}

extension SQLConnection {
    /// Counts one more analysis that found `groups` groups: the latest run grows when it found
    /// as many, else a new run starts. In the caller's transaction (the one saving the analysis).
    func recordGroupCount(conversationID: Int64, groups: Int, at date: Date) async throws {
        let latest = try await row(
            """
            SELECT id, group_count FROM analysis_group_count WHERE conversation_id = ?
            ORDER BY id DESC LIMIT 1 FOR UPDATE
            """, conversationID)
        if let latest, Int(try latest.at(1, as: Int32.self)) == groups {
            try await execute(
                "UPDATE analysis_group_count SET analyses = analyses + 1, last_at = ? WHERE id = ?", date,
                try latest.at(0, as: Int64.self))
        } else {
            try await execute(
                """
                INSERT INTO analysis_group_count (conversation_id, group_count, analyses, first_at, last_at)
                VALUES (?, ?, 1, ?, ?)
                """, conversationID, Int32(clamping: groups), date, date)
        }
    }

    /// The conversation and its statement, locked until the transaction ends.
    fileprivate func statementToReword(id: Int64, conversationID: Int64) async throws -> (Conversation, Statement) {
        guard let conversation = try await conversation(id: conversationID) else {
            throw CharterError.notFound("Conversation")
        }
        guard
            let statement = try await row(
                "SELECT * FROM statement WHERE id = ? AND conversation_id = ? FOR UPDATE", id, conversationID)
        else { throw CharterError.notFound("Statement") }
        return (conversation, try Statement(statement))
    }
}
