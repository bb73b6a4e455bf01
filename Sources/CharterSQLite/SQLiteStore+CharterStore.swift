public import CharterDomain
public import CharterStore
public import Foundation
import GRDB

/// The SQL that says which statements a participant sees: not meta, not rejected, and under
/// strict moderation only accepted ones (mirrors `Conversation.shows`). Needs `c` and `s`.
let visibleStatementSQL = """
    s.is_meta = 0 AND (s.moderation = 'accepted' OR (s.moderation = 'pending' AND c.strict_moderation = 0))
    """

extension SQLiteStore: CharterStore {
    // MARK: Conversations

    public func createConversation(_ settings: ConversationSettings, by actor: Actor) async throws -> Conversation {
        let settings = try settings.validated()
        return try await write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM conversation WHERE slug = ?", arguments: [settings.slug])
                == true
            {
                throw CharterError.conflict("A conversation with the slug '\(settings.slug)' already exists.")
            }
            let columns = ConversationSettings.columnNames + ["created_at"]
            let placeholders = Array(repeating: "?", count: columns.count).joined(separator: ", ")
            try db.execute(
                sql: "INSERT INTO conversation (\(columns.joined(separator: ", "))) VALUES (\(placeholders))",
                arguments: StatementArguments(settings.columnValues + [Date()]))
            let id = db.lastInsertedRowID
            if let organiserID = actor.organiserID {
                try db.execute(
                    sql: "INSERT INTO conversation_member (conversation_id, organiser_id, role) VALUES (?, ?, 'owner')",
                    arguments: [id, organiserID])
            }
            try Self.audit(db, actor, .conversationCreate, conversationID: id, detail: settings.slug)
            return try Self.fetchConversation(db, id: id)!
        }
    }

    public func updateConversation(id: Int64, _ settings: ConversationSettings, by actor: Actor) async throws
        -> Conversation
    {
        let settings = try settings.validated()
        return try await write { db in
            guard let before = try Self.fetchConversation(db, id: id) else {
                throw CharterError.notFound("Conversation")
            }
            if try Bool.fetchOne(
                db, sql: "SELECT 1 FROM conversation WHERE slug = ? AND id != ?", arguments: [settings.slug, id])
                == true
            {
                throw CharterError.conflict("A conversation with the slug '\(settings.slug)' already exists.")
            }
            let assignments = ConversationSettings.columnNames.map { "\($0) = ?" }.joined(separator: ", ")
            try db.execute(
                sql: "UPDATE conversation SET \(assignments) WHERE id = ?",
                arguments: StatementArguments(settings.columnValues + [id]))
            try Self.audit(
                db, actor, .conversationEdit, conversationID: id,
                detail: AuditText.describeChanges(from: before.settings, to: settings))
            return try Self.fetchConversation(db, id: id)!
        }
    }

    public func conversation(id: Int64) async throws -> Conversation? {
        try await pool.read { db in try Self.fetchConversation(db, id: id) }
    }

    public func conversation(slug: String) async throws -> Conversation? {
        try await pool.read { db in
            // Cached: every participant request looks its conversation up.
            try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM conversation WHERE slug = ?"), arguments: [slug]
            ).map(Conversation.init(row:))
        }
    }

    public func conversations() async throws -> [Conversation] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM conversation ORDER BY id DESC").map(Conversation.init(row:))
        }
    }

    // MARK: Participants

    public func participant(conversationID: Int64, identity: ParticipantIdentity) async throws -> Participant {
        if let existing = try await existingParticipant(conversationID: conversationID, identity: identity) {
            return existing
        }
        return try await write { db in
            guard try Self.fetchConversation(db, id: conversationID) != nil else {
                throw CharterError.notFound("Conversation")
            }
            if let existing = try Self.fetchParticipant(db, conversationID: conversationID, identity: identity) {
                return existing
            }
            return try Self.insertParticipant(db, conversationID: conversationID, identity: identity, at: Date())
        }
    }

    public func existingParticipant(conversationID: Int64, identity: ParticipantIdentity) async throws
        -> Participant?
    {
        try await pool.read { db in
            try Self.fetchParticipant(db, conversationID: conversationID, identity: identity)
        }
    }

    public func participant(id: Int64) async throws -> Participant? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM participant WHERE id = ?", arguments: [id])
                .map(Participant.init(row:))
        }
    }

    public func flaggedParticipants(conversationID: Int64) async throws -> [FlaggedParticipant] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT p.*, (SELECT COUNT(*) FROM vote v WHERE v.participant_id = p.id) AS votes
                    FROM participant p
                    WHERE p.conversation_id = ? AND p.flagged_at IS NOT NULL
                    ORDER BY p.flagged_at DESC, p.id
                    """,
                arguments: [conversationID]
            ).map {
                FlaggedParticipant(
                    participant: Participant(row: $0), fastVotes: $0["fast_votes"], votes: $0["votes"],
                    flaggedAt: $0["flagged_at"])
            }
        }
    }

    public func participants(conversationID: Int64) async throws -> [Participant] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM participant WHERE conversation_id = ? ORDER BY id", arguments: [conversationID]
            )
            .map(Participant.init(row:))
        }
    }

    // MARK: Statements

    public func addSeedStatements(conversationID: Int64, texts: [String], language: String?, by actor: Actor)
        async throws -> SeedResult
    {
        let language = try language.map { try LanguageCode.validated($0, field: "language") }
        return try await write { db in
            guard let conversation = try Self.fetchConversation(db, id: conversationID) else {
                throw CharterError.notFound("Conversation")
            }
            var added: [Statement] = []
            var skipped: [(text: String, error: CharterError)] = []
            for raw in texts {
                do {
                    let text = try StatementText.validated(raw, maxLength: conversation.settings.maxStatementLength)
                    let statement = try Self.insertStatement(
                        db, conversationID: conversationID, authorID: nil, text: text, isSeed: true,
                        moderation: .accepted, language: language, at: Date())
                    try Self.audit(
                        db, actor, .statementSeed, conversationID: conversationID, statementID: statement.id,
                        detail: text)
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
    ) async throws -> CharterDomain.Statement {
        let language = try language.map { try LanguageCode.validated($0, field: "language") }
        return try await write { db in
            guard let conversation = try Self.fetchConversation(db, id: conversationID) else {
                throw CharterError.notFound("Conversation")
            }
            try SubmissionRules.checkConversation(conversation, at: now)
            let existing = try Self.fetchParticipant(db, conversationID: conversationID, identity: identity)
            if case .id = identity, existing == nil { throw CharterError.notFound("Participant") }
            // The count matters only to a conversation that asks for votes before statements.
            let cast =
                conversation.settings.minVotesBeforeSubmit == 0
                ? 0
                : try existing.flatMap {
                    try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM vote WHERE participant_id = ?", arguments: [$0.id])
                } ?? 0
            let text = try SubmissionRules.validatedText(text, in: conversation, votesCast: cast)
            try Self.rejectDuplicate(db, conversationID: conversationID, text: text)
            let participantID =
                try existing?.id
                ?? Self.insertParticipant(db, conversationID: conversationID, identity: identity, at: now).id
            let statement = try Self.insertStatement(
                db, conversationID: conversationID, authorID: participantID, text: text, isSeed: false,
                moderation: .pending, language: language, at: now)
            // As in Polis, writing a statement is agreeing with it.
            try Self.recordVote(
                db, conversationID: conversationID, participantID: participantID, statementID: statement.id,
                value: .agree, previous: nil, at: now)
            return statement
        }
    }

    public func statement(id: Int64) async throws -> CharterDomain.Statement? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM statement WHERE id = ?", arguments: [id]).map(Statement.init(row:))
        }
    }

    public func statements(conversationID: Int64, filter: StatementFilter) async throws -> Page<CharterDomain.Statement>
    {
        try await pool.read { db in
            var conditions = ["conversation_id = ?"]
            var arguments: StatementArguments = [conversationID]
            if let moderation = filter.moderation {
                conditions.append("moderation = ?")
                arguments += [moderation.rawValue]
            }
            if let isMeta = filter.isMeta {
                conditions.append("is_meta = ?")
                arguments += [isMeta]
            }
            if let isSeed = filter.isSeed {
                conditions.append("is_seed = ?")
                arguments += [isSeed]
            }
            if let search = filter.search, !search.isEmpty {
                conditions.append("instr(lower(text), lower(?)) > 0")
                arguments += [search]
            }
            let whereClause = conditions.joined(separator: " AND ")
            let total =
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM statement WHERE \(whereClause)", arguments: arguments)
                ?? 0
            let limit = max(1, min(filter.limit, 500))
            let offset = max(0, filter.offset)
            let items = try Row.fetchAll(
                db, sql: "SELECT * FROM statement WHERE \(whereClause) ORDER BY id LIMIT ? OFFSET ?",
                arguments: arguments + [limit, offset]
            ).map(Statement.init(row:))
            return Page(items: items, total: total, offset: offset, limit: limit)
        }
    }

    public func visibleStatements(conversationID: Int64) async throws -> [CharterDomain.Statement] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT s.* FROM statement s JOIN conversation c ON c.id = s.conversation_id
                    WHERE s.conversation_id = ? AND \(visibleStatementSQL) ORDER BY s.id
                    """,
                arguments: [conversationID]
            ).map(Statement.init(row:))
        }
    }

    public func unvotedStatements(conversationID: Int64, participantID: Int64?) async throws
        -> [CharterDomain.Statement]
    {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT s.* FROM statement s JOIN conversation c ON c.id = s.conversation_id
                    WHERE s.conversation_id = ? AND \(visibleStatementSQL)
                      AND NOT EXISTS (SELECT 1 FROM vote v WHERE v.participant_id = ? AND v.statement_id = s.id)
                    ORDER BY s.id
                    """,
                arguments: [conversationID, participantID ?? 0]
            ).map(Statement.init(row:))
        }
    }

    public func moderate(statementIDs: [Int64], conversationID: Int64, action: ModerationAction, by actor: Actor)
        async throws -> [CharterDomain.Statement]
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
        return try await write { db in
            let ids = Array(Set(statementIDs)).sorted()
            let placeholders = ids.map { _ in "?" }.joined(separator: ",")
            let found = try Row.fetchAll(
                db, sql: "SELECT * FROM statement WHERE conversation_id = ? AND id IN (\(placeholders))",
                arguments: StatementArguments([conversationID] + ids)
            ).map(Statement.init(row:))
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
            for before in found.sorted(by: { $0.id < $1.id }) {
                let id = before.id
                let (sql, arguments, auditAction, detail): (String, StatementArguments, AuditAction, String)
                switch action {
                case .accept:
                    (sql, arguments, auditAction, detail) = (
                        "UPDATE statement SET moderation = 'accepted', reason = NULL WHERE id = ?", [id],
                        .statementAccept, "\(before.moderation.rawValue) → accepted"
                    )
                case .reject(let reason):
                    let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
                    (sql, arguments, auditAction, detail) = (
                        "UPDATE statement SET moderation = 'rejected', reason = ? WHERE id = ?",
                        [reason.isEmpty ? nil : reason, id], .statementReject,
                        "\(before.moderation.rawValue) → rejected" + (reason.isEmpty ? "" : ": \(reason)")
                    )
                case .markMeta(let isMeta):
                    (sql, arguments, auditAction, detail) = (
                        "UPDATE statement SET is_meta = ? WHERE id = ?", [isMeta, id],
                        isMeta ? .statementMeta : .statementUnmeta, "meta: \(before.isMeta) → \(isMeta)"
                    )
                }
                try db.execute(sql: sql, arguments: arguments)
                try Self.audit(db, actor, auditAction, conversationID: conversationID, statementID: id, detail: detail)
                result.append(
                    try Row.fetchOne(db, sql: "SELECT * FROM statement WHERE id = ?", arguments: [id]).map(
                        Statement.init(row:))!)
            }
            return result
        }
    }

    // MARK: Votes

    public func castVote(
        conversationID: Int64, slug: String?, participant identity: ParticipantIdentity, statementID: Int64,
        value: VoteValue, at now: Date
    ) async throws -> VoteReceipt {
        let recorded = try await votes.submit(
            VoteCommitter.Request(
                conversationID: conversationID, slug: slug, identity: identity, statementID: statementID, value: value,
                at: now))
        return VoteReceipt(
            conversation: recorded.conversation, participant: recorded.participant, vote: recorded.vote,
            outcome: recorded.outcome, progress: recorded.progress)
    }

    public func progress(conversationID: Int64, participantID: Int64?) async throws -> VotingProgress {
        try await pool.read { db in
            try Self.fetchProgress(db, conversationID: conversationID, participantID: participantID)
        }
    }

    public func lastVote(participantID: Int64) async throws -> Vote? {
        try await pool.read { db in
            // Every vote event updates its statement's vote row, so the row with the newest event
            // is the last vote.
            try Row.fetchOne(
                db, sql: "SELECT * FROM vote WHERE participant_id = ? ORDER BY event_id DESC LIMIT 1",
                arguments: [participantID]
            ).map(Vote.init(row:))
        }
    }

    public func votes(conversationID: Int64) async throws -> [Vote] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM vote WHERE conversation_id = ? ORDER BY event_id", arguments: [conversationID]
            ).map(Vote.init(row:))
        }
    }

    public func voteEvents(conversationID: Int64) async throws -> [Vote] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM vote_event WHERE conversation_id = ? ORDER BY id", arguments: [conversationID]
            ).map(Vote.init(row:))
        }
    }

}
