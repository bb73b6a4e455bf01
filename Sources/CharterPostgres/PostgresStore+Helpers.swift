import CharterDomain
import CharterStore
import Foundation

/// The SQL that says which statements a participant sees: not meta, not rejected, and under
/// strict moderation only accepted ones (mirrors `Conversation.shows`). Needs `c` and `s`.
let visibleStatementSQL = """
    NOT s.is_meta AND (s.moderation = 'accepted' OR (s.moderation = 'pending' AND NOT c.strict_moderation))
    """

// MARK: - Helpers used inside transactions

extension SQLConnection {
    func conversation(id: Int64, lock: Bool = false) async throws -> Conversation? {
        try await row("SELECT * FROM conversation WHERE id = ?" + (lock ? " FOR UPDATE" : ""), id).map(
            Conversation.init)
    }

    func participant(conversationID: Int64, identity: ParticipantIdentity) async throws -> Participant? {
        let sql = "SELECT id, conversation_id, xid, created_at FROM participant WHERE conversation_id = ? AND "
        let found: SQLRow? =
            switch identity {
            case .id(let id): try await row(sql + "id = ?", conversationID, id)
            case .external(let xid): try await row(sql + "xid = ?", conversationID, xid)
            case .anonymous(let anonymous): try await row(sql + "anonymous_id = ?", conversationID, anonymous)
            }
        return try found.map(Participant.init)
    }

    /// The participant with this identity, created if absent. Two transactions creating the same
    /// one at once get the same row: the loser's insert waits for the winner and then does nothing.
    func participantCreatingIfAbsent(conversationID: Int64, identity: ParticipantIdentity, at now: Date)
        async throws -> (participant: Participant, created: Bool)
    {
        let (xid, anonymousID): (String?, String?)
        switch identity {
        case .id:
            guard let existing = try await participant(conversationID: conversationID, identity: identity) else {
                throw CharterError.notFound("Participant")
            }
            return (existing, false)
        case .external(let value): (xid, anonymousID) = (value, nil)
        case .anonymous(let value): (xid, anonymousID) = (nil, value)
        }
        if let inserted = try await row(
            """
            INSERT INTO participant (conversation_id, xid, anonymous_id, created_at) VALUES (?, ?, ?, ?)
            ON CONFLICT DO NOTHING RETURNING id, conversation_id, xid, created_at
            """, conversationID, xid, anonymousID, now)
        {
            return (try Participant(inserted), true)
        }
        guard let existing = try await participant(conversationID: conversationID, identity: identity) else {
            throw StorageUnavailable(reason: "a participant's insert conflicted, and the row it met is gone")
        }
        return (existing, false)
    }

    /// Inserts a statement unless its text duplicates one already in the conversation; the
    /// UNIQUE (conversation_id, duplicate_key) constraint decides, so two racing inserts of the
    /// same text add one.
    func insertStatement(
        conversationID: Int64, authorID: Int64?, text: String, isSeed: Bool, moderation: ModerationState,
        language: String? = nil, at now: Date
    ) async throws -> Statement {
        let key = StatementText.duplicateKey(text)
        guard
            let id = try await value(
                Int64.self,
                """
                INSERT INTO statement (conversation_id, author_id, text, duplicate_key, is_seed, is_meta, moderation, created_at, language)
                VALUES (?, ?, ?, ?, ?, FALSE, ?, ?, ?)
                ON CONFLICT (conversation_id, duplicate_key) DO NOTHING RETURNING id
                """, conversationID, authorID, text, key, isSeed, moderation.rawValue, now, language)
        else {
            try await rejectDuplicate(conversationID: conversationID, text: text)
            throw StorageUnavailable(reason: "a statement's insert conflicted, and the row it met is gone")
        }
        return Statement(
            id: id, conversationID: conversationID, authorID: authorID, text: text, isSeed: isSeed, isMeta: false,
            moderation: moderation, reason: nil, createdAt: now, language: language)
    }

    func rejectDuplicate(conversationID: Int64, text: String) async throws {
        if let existing = try await value(
            Int64.self, "SELECT id FROM statement WHERE conversation_id = ? AND duplicate_key = ?", conversationID,
            StatementText.duplicateKey(text))
        {
            throw CharterError.duplicateStatement(existingID: existing)
        }
    }

    /// Appends the event and sets the current vote, in the caller's transaction.
    func recordVote(
        conversationID: Int64, participantID: Int64, statementID: Int64, value vote: VoteValue, at now: Date
    )
        async throws
    {
        try await execute(
            """
            WITH event AS (
                INSERT INTO vote_event (conversation_id, participant_id, statement_id, value, created_at)
                VALUES (?, ?, ?, ?, ?) RETURNING id
            )
            INSERT INTO vote (participant_id, statement_id, conversation_id, value, event_id, created_at)
            SELECT ?, ?, ?, ?, event.id, ? FROM event
            ON CONFLICT (participant_id, statement_id)
            DO UPDATE SET value = excluded.value, event_id = excluded.event_id, created_at = excluded.created_at
            """, conversationID, participantID, statementID, Int16(vote.rawValue), now, participantID, statementID,
            conversationID, Int16(vote.rawValue), now)
    }

    func progress(conversationID: Int64, participantID: Int64?) async throws -> VotingProgress {
        guard
            let row = try await row(
                """
                SELECT COUNT(*) AS total, COUNT(v.statement_id) AS voted
                FROM statement s JOIN conversation c ON c.id = s.conversation_id
                LEFT JOIN vote v ON v.statement_id = s.id AND v.participant_id = ?
                WHERE s.conversation_id = ? AND \(visibleStatementSQL)
                """, participantID ?? -1, conversationID)
        else { return VotingProgress(voted: 0, total: 0) }
        return VotingProgress(
            voted: Int(try row("voted", as: Int64.self)), total: Int(try row("total", as: Int64.self)))
    }

    func audit(
        _ actor: Actor, _ action: AuditAction, conversationID: Int64? = nil, statementID: Int64? = nil, detail: String
    ) async throws {
        try await execute(
            """
            INSERT INTO audit_log (organiser_id, actor, action, conversation_id, statement_id, detail, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """, actor.organiserID, actor.name, action.rawValue, conversationID, statementID, detail, Date())
    }

    /// The count of `SELECT COUNT(*) …`.
    func count(_ sql: String, _ values: any SQLBindable...) async throws -> Int {
        Int(try await rows(sql, values: values).first?.at(0, as: Int64.self) ?? 0)
    }

    /// Takes a transaction-long lock on a name (an organiser's email, an import's slug), for the
    /// checks no UNIQUE constraint can make (the first organiser, the last admin).
    func lock(_ name: String) async throws {
        try await execute("SELECT pg_advisory_xact_lock(hashtext(?))", name)
    }
}
