import CharterDomain
import CharterStore
import Foundation
import GRDB

// MARK: - Helpers used inside transactions

extension SQLiteStore {
    static func fetchConversation(_ db: Database, id: Int64) throws -> Conversation? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM conversation WHERE id = ?"), arguments: [id]).map(
            Conversation.init(row:))
    }

    static func fetchParticipant(_ db: Database, conversationID: Int64, identity: ParticipantIdentity) throws
        -> Participant?
    {
        let (column, value): (String, any DatabaseValueConvertible) =
            switch identity {
            case .id(let id): ("id", id)
            case .external(let xid): ("xid", xid)
            case .anonymous(let id): ("anonymous_id", id)
            }
        // Columns by position: this runs once per vote, and lookups by name showed in profiles.
        return try Row.fetchOne(
            db.cachedStatement(
                sql:
                    "SELECT id, conversation_id, xid, created_at FROM participant WHERE conversation_id = ? AND \(column) = ?"
            ),
            arguments: [conversationID, value]
        ).map { row in Participant(id: row[0], conversationID: row[1], xid: row[2], createdAt: row[3]) }
    }

    static func insertParticipant(_ db: Database, conversationID: Int64, identity: ParticipantIdentity, at now: Date)
        throws -> Participant
    {
        let (xid, anonymousID): (String?, String?)
        switch identity {
        case .id: throw CharterError.notFound("Participant")
        case .external(let value): (xid, anonymousID) = (value, nil)
        case .anonymous(let value): (xid, anonymousID) = (nil, value)
        }
        try db.execute(
            sql: "INSERT INTO participant (conversation_id, xid, anonymous_id, created_at) VALUES (?, ?, ?, ?)",
            arguments: [conversationID, xid, anonymousID, now])
        return Participant(id: db.lastInsertedRowID, conversationID: conversationID, xid: xid, createdAt: now)
    }

    static func rejectDuplicate(_ db: Database, conversationID: Int64, text: String) throws {
        if let existing = try Int64.fetchOne(
            db, sql: "SELECT id FROM statement WHERE conversation_id = ? AND duplicate_key = ?",
            arguments: [conversationID, StatementText.duplicateKey(text)])
        {
            throw CharterError.duplicateStatement(existingID: existing)
        }
    }

    static func insertStatement(
        _ db: Database, conversationID: Int64, authorID: Int64?, text: String, isSeed: Bool,
        moderation: ModerationState, language: String? = nil, at now: Date
    ) throws -> Statement {
        try rejectDuplicate(db, conversationID: conversationID, text: text)
        let key = StatementText.duplicateKey(text)
        try db.execute(
            sql: """
                INSERT INTO statement (conversation_id, author_id, text, duplicate_key, is_seed, is_meta, moderation, created_at, language)
                VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)
                """,
            arguments: [conversationID, authorID, text, key, isSeed, moderation.rawValue, now, language])
        return Statement(
            id: db.lastInsertedRowID, conversationID: conversationID, authorID: authorID, text: text, isSeed: isSeed,
            isMeta: false, moderation: moderation, reason: nil, createdAt: now, language: language)
    }

    /// Appends the event and sets the current vote, in the caller's transaction.
    static func recordVote(
        _ db: Database, conversationID: Int64, participantID: Int64, statementID: Int64, value: VoteValue,
        previous: VoteValue?, at now: Date
    ) throws {
        // Cached: this runs once per vote, thousands of times a second under load.
        let created = DatabaseDateText.text(now)
        try db.cachedStatement(
            sql:
                "INSERT INTO vote_event (conversation_id, participant_id, statement_id, value, created_at) VALUES (?, ?, ?, ?, ?)"
        ).execute(arguments: [conversationID, participantID, statementID, value.rawValue, created])
        let eventID = db.lastInsertedRowID
        try db.cachedStatement(
            sql: """
                INSERT INTO vote (participant_id, statement_id, conversation_id, value, event_id, created_at)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (participant_id, statement_id)
                DO UPDATE SET value = excluded.value, event_id = excluded.event_id, created_at = excluded.created_at
                """
        ).execute(arguments: [participantID, statementID, conversationID, value.rawValue, eventID, created])
    }

    /// The statements of conversation `?` that participants can vote on.
    static let votableStatementIDsSQL = """
        SELECT s.id FROM statement s JOIN conversation c ON c.id = s.conversation_id
        WHERE s.conversation_id = ? AND \(visibleStatementSQL)
        """

    static func fetchProgress(_ db: Database, conversationID: Int64, participantID: Int64?) throws -> VotingProgress {
        let row = try Row.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT COUNT(*) AS total,
                           COUNT(v.statement_id) AS voted
                    FROM statement s JOIN conversation c ON c.id = s.conversation_id
                    LEFT JOIN vote v ON v.statement_id = s.id AND v.participant_id = ?
                    WHERE s.conversation_id = ? AND \(visibleStatementSQL)
                    """),
            arguments: [participantID ?? -1, conversationID])!
        return VotingProgress(voted: row[1], total: row[0])
    }

    static func audit(
        _ db: Database, _ actor: Actor, _ action: AuditAction, conversationID: Int64? = nil, statementID: Int64? = nil,
        detail: String
    ) throws {
        try db.execute(
            sql: """
                INSERT INTO audit_log (organiser_id, actor, action, conversation_id, statement_id, detail, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [actor.organiserID, actor.name, action.rawValue, conversationID, statementID, detail, Date()])
    }
}
