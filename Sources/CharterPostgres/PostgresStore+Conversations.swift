public import CharterDomain
public import CharterStore
public import Foundation

extension PostgresStore {
    // MARK: Conversations

    public func createConversation(_ settings: ConversationSettings, by actor: Actor) async throws -> Conversation {
        let settings = try settings.validated()
        return try await write { sql in
            let columns = ConversationSettings.columnNames + ["created_at"]
            let placeholders = Array(repeating: "?", count: columns.count).joined(separator: ", ")
            // The UNIQUE slug decides between two servers creating the same one at once.
            guard
                let id = try await sql.rows(
                    """
                    INSERT INTO conversation (\(columns.joined(separator: ", "))) VALUES (\(placeholders))
                    ON CONFLICT (slug) DO NOTHING RETURNING id
                    """, values: settings.columnValues + [Date()]
                ).first?.at(0, as: Int64.self)
            else { throw CharterError.conflict("A conversation with the slug '\(settings.slug)' already exists.") }
            if let organiserID = actor.organiserID {
                try await sql.execute(
                    "INSERT INTO conversation_member (conversation_id, organiser_id, role) VALUES (?, ?, 'owner')", id,
                    organiserID)
            }
            try await sql.audit(actor, .conversationCreate, conversationID: id, detail: settings.slug)
            guard let conversation = try await sql.conversation(id: id) else {
                throw CharterError.notFound("Conversation")
            }
            return conversation
        }
    }

    public func updateConversation(id: Int64, _ settings: ConversationSettings, by actor: Actor) async throws
        -> Conversation
    {
        let settings = try settings.validated()
        return try await write { sql in
            guard let before = try await sql.conversation(id: id, lock: true) else {
                throw CharterError.notFound("Conversation")
            }
            let assignments = ConversationSettings.columnNames.map { "\($0) = ?" }.joined(separator: ", ")
            do {
                try await sql.execute(
                    "UPDATE conversation SET \(assignments) WHERE id = ?", values: settings.columnValues + [id])
            } catch  where Self.sqlState(error) == "23505" {
                throw CharterError.conflict("A conversation with the slug '\(settings.slug)' already exists.")
            }
            try await sql.audit(
                actor, .conversationEdit, conversationID: id,
                detail: AuditText.describeChanges(from: before.settings, to: settings))
            guard let conversation = try await sql.conversation(id: id) else {
                throw CharterError.notFound("Conversation")
            }
            return conversation
        }
    }

    public func conversation(id: Int64) async throws -> Conversation? {
        try await readOne { sql in try await sql.conversation(id: id) }
    }

    public func conversation(slug: String) async throws -> Conversation? {
        try await readOne { sql in
            try await sql.row("SELECT * FROM conversation WHERE slug = ?", slug).map(Conversation.init)
        }
    }

    public func conversations() async throws -> [Conversation] {
        try await readOne { sql in
            try await sql.rows("SELECT * FROM conversation ORDER BY id DESC").map(Conversation.init)
        }
    }

    // MARK: Statements

    public func addSeedStatements(conversationID: Int64, texts: [String], language: String?, by actor: Actor)
        async throws -> SeedResult
    {
        let language = try language.map { try LanguageCode.validated($0, field: "language") }
        return try await write { sql in
            guard let conversation = try await sql.conversation(id: conversationID) else {
                throw CharterError.notFound("Conversation")
            }
            var added: [Statement] = []
            var skipped: [(text: String, error: CharterError)] = []
            for raw in texts {
                do {
                    let text = try StatementText.validated(raw, maxLength: conversation.settings.maxStatementLength)
                    let statement = try await sql.insertStatement(
                        conversationID: conversationID, authorID: nil, text: text, isSeed: true, moderation: .accepted,
                        language: language, at: Date())
                    try await sql.audit(
                        actor, .statementSeed, conversationID: conversationID, statementID: statement.id, detail: text)
                    added.append(statement)
                } catch let error as CharterError {
                    skipped.append((raw, error))
                }
            }
            return SeedResult(added: added, skipped: skipped)
        }
    }

    public func submitStatement(
        conversationID: Int64, participant identity: ParticipantIdentity, text: String, language: String?,
        at now: Date
    ) async throws -> Statement {
        let language = try language.map { try LanguageCode.validated($0, field: "language") }
        return try await write { sql in
            guard let conversation = try await sql.conversation(id: conversationID) else {
                throw CharterError.notFound("Conversation")
            }
            try SubmissionRules.checkConversation(conversation, at: now)
            let existing = try await sql.participant(conversationID: conversationID, identity: identity)
            if case .id = identity, existing == nil { throw CharterError.notFound("Participant") }
            var cast = 0
            if conversation.settings.minVotesBeforeSubmit > 0, let existing {
                cast = try await sql.count("SELECT COUNT(*) FROM vote WHERE participant_id = ?", existing.id)
            }
            let text = try SubmissionRules.validatedText(text, in: conversation, votesCast: cast)
            try await sql.rejectDuplicate(conversationID: conversationID, text: text)
            var participantID = existing?.id ?? 0
            if existing == nil {
                participantID = try await sql.participantCreatingIfAbsent(
                    conversationID: conversationID, identity: identity, at: now
                ).participant.id
            }
            let statement = try await sql.insertStatement(
                conversationID: conversationID, authorID: participantID, text: text, isSeed: false,
                moderation: .pending, language: language, at: now)
            // As in Polis, writing a statement is agreeing with it.
            try await sql.recordVote(
                conversationID: conversationID, participantID: participantID, statementID: statement.id,
                value: .agree, at: now)
            return statement
        }
    }

    public func statement(id: Int64) async throws -> Statement? {
        try await readOne { sql in try await sql.row("SELECT * FROM statement WHERE id = ?", id).map(Statement.init) }
    }

    public func statements(conversationID: Int64, filter: StatementFilter) async throws -> Page<Statement> {
        try await read { sql in
            var conditions = ["conversation_id = ?"]
            var values: [any SQLBindable] = [conversationID]
            if let moderation = filter.moderation {
                conditions.append("moderation = ?")
                values.append(moderation.rawValue)
            }
            if let isMeta = filter.isMeta {
                conditions.append("is_meta = ?")
                values.append(isMeta)
            }
            if let isSeed = filter.isSeed {
                conditions.append("is_seed = ?")
                values.append(isSeed)
            }
            if let search = filter.search, !search.isEmpty {
                conditions.append("strpos(lower(text), lower(?)) > 0")
                values.append(search)
            }
            let whereClause = conditions.joined(separator: " AND ")
            let total = Int(
                try await sql.rows("SELECT COUNT(*) FROM statement WHERE \(whereClause)", values: values).first?.at(
                    0, as: Int64.self) ?? 0)
            let limit = max(1, min(filter.limit, 500))
            let offset = max(0, filter.offset)
            let items = try await sql.rows(
                "SELECT * FROM statement WHERE \(whereClause) ORDER BY id LIMIT ? OFFSET ?",
                values: values + [limit, offset]
            ).map(Statement.init)
            return Page(items: items, total: total, offset: offset, limit: limit)
        }
    }

    public func visibleStatements(conversationID: Int64) async throws -> [Statement] {
        try await readOne { sql in
            try await sql.rows(
                """
                SELECT s.* FROM statement s JOIN conversation c ON c.id = s.conversation_id
                WHERE s.conversation_id = ? AND \(visibleStatementSQL) ORDER BY s.id
                """, conversationID
            ).map(Statement.init)
        }
    }

    public func unvotedStatements(conversationID: Int64, participantID: Int64?) async throws -> [Statement] {
        try await readOne { sql in
            try await sql.rows(
                """
                SELECT s.* FROM statement s JOIN conversation c ON c.id = s.conversation_id
                WHERE s.conversation_id = ? AND \(visibleStatementSQL)
                  AND NOT EXISTS (SELECT 1 FROM vote v WHERE v.participant_id = ? AND v.statement_id = s.id)
                ORDER BY s.id
                """, conversationID, participantID ?? 0
            ).map(Statement.init)
        }
    }

    public func moderate(statementIDs: [Int64], conversationID: Int64, action: ModerationAction, by actor: Actor)
        async throws -> [Statement]
    {
        guard !statementIDs.isEmpty else {
            throw CharterError.invalid(field: "statements", message: "Select at least one statement.")
        }
        guard statementIDs.count <= 1000 else {
            throw CharterError.invalid(field: "statements", message: "Moderate at most 1000 statements at once.")
        }
        if case .reject(let reason) = action, reason.count > 500 {
            throw CharterError.invalid(field: "reason", message: "The reason must be at most 500 characters.")
        }
        return try await write { sql in
            let ids = Array(Set(statementIDs)).sorted()
            // Locked in id order, so two moderators acting on overlapping sets cannot deadlock.
            let found = try await sql.rows(
                "SELECT * FROM statement WHERE conversation_id = ? AND id = ANY(?) ORDER BY id FOR UPDATE",
                conversationID, ids
            ).map(Statement.init)
            let known = Set(found.map(\.id))
            let unknown = ids.filter { !known.contains($0) }
            guard unknown.isEmpty else {
                let named = unknown.prefix(20).map(String.init).joined(separator: ", ")
                let more = unknown.count > 20 ? " (and \(unknown.count - 20) more)" : ""
                throw CharterError.invalid(
                    field: "statements",
                    message: "This conversation has no statement \(named)\(more); nothing was changed.")
            }
            var result: [Statement] = []
            for before in found {
                let id = before.id
                let (statementSQL, values, auditAction, detail): (String, [any SQLBindable], AuditAction, String)
                switch action {
                case .accept:
                    (statementSQL, values, auditAction, detail) = (
                        "UPDATE statement SET moderation = 'accepted', reason = NULL WHERE id = ? RETURNING *", [id],
                        .statementAccept, "\(before.moderation.rawValue) → accepted"
                    )
                case .reject(let reason):
                    let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
                    (statementSQL, values, auditAction, detail) = (
                        "UPDATE statement SET moderation = 'rejected', reason = ? WHERE id = ? RETURNING *",
                        [reason.isEmpty ? nil : reason, id], .statementReject,
                        "\(before.moderation.rawValue) → rejected" + (reason.isEmpty ? "" : ": \(reason)")
                    )
                case .markMeta(let isMeta):
                    (statementSQL, values, auditAction, detail) = (
                        "UPDATE statement SET is_meta = ? WHERE id = ? RETURNING *", [isMeta, id],
                        isMeta ? .statementMeta : .statementUnmeta, "meta: \(before.isMeta) → \(isMeta)"
                    )
                }
                guard let after = try await sql.rows(statementSQL, values: values).first else {
                    throw CharterError.notFound("Statement")
                }
                try await sql.audit(actor, auditAction, conversationID: conversationID, statementID: id, detail: detail)
                result.append(try Statement(after))
            }
            return result
        }
    }

    // MARK: Votes

    public func castVote(
        conversationID: Int64, slug: String?, participant identity: ParticipantIdentity, statementID: Int64,
        value: VoteValue, at now: Date
    ) async throws -> VoteReceipt {
        try await votes.submit(
            PostgresVoteCommitter.Request(
                conversationID: conversationID, slug: slug, identity: identity, statementID: statementID, value: value,
                at: now))
    }

    public func progress(conversationID: Int64, participantID: Int64?) async throws -> VotingProgress {
        try await readOne { sql in try await sql.progress(conversationID: conversationID, participantID: participantID)
        }
    }

    public func lastVote(participantID: Int64) async throws -> Vote? {
        // Every vote event updates its statement's vote row, so the row with the newest event
        // is the last vote.
        try await readOne { sql in
            try await sql.row(
                "SELECT * FROM vote WHERE participant_id = ? ORDER BY event_id DESC LIMIT 1", participantID
            ).map(Vote.init)
        }
    }

    public func votes(conversationID: Int64) async throws -> [Vote] {
        try await readOne { sql in
            try await sql.rows("SELECT * FROM vote WHERE conversation_id = ? ORDER BY event_id", conversationID).map(
                Vote.init)
        }
    }

    public func voteEvents(conversationID: Int64) async throws -> [Vote] {
        try await readOne { sql in
            try await sql.rows("SELECT * FROM vote_event WHERE conversation_id = ? ORDER BY id", conversationID).map(
                Vote.init)
        }
    }
}
