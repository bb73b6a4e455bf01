public import CharterDomain
public import CharterStore
public import Foundation

// MARK: - Analysis and imports

extension PostgresStore {
    public func analysisSnapshot(conversationID: Int64) async throws -> AnalysisSnapshot {
        try await read { sql in
            // The current votes as three arrays in one row: the aggregates read the rows in one
            // pass, so their elements line up.
            let votes = try await sql.row(
                """
                SELECT COALESCE(array_agg(participant_id), '{}'), COALESCE(array_agg(statement_id), '{}'),
                    COALESCE(array_agg(value), '{}')
                FROM vote WHERE conversation_id = ?
                """, conversationID)
            let participants = try votes?.at(0, as: [Int64].self) ?? []
            let statements = try votes?.at(1, as: [Int64].self) ?? []
            let values = try (votes?.at(2, as: [Int16].self) ?? []).map { Int8($0) }
            let rejected = Set(
                try await sql.values(
                    Int64.self, "SELECT id FROM statement WHERE conversation_id = ? AND moderation = 'rejected'",
                    conversationID))
            let meta = Set(
                try await sql.values(
                    Int64.self, "SELECT id FROM statement WHERE conversation_id = ? AND is_meta", conversationID))
            return AnalysisSnapshot(
                participants: participants, statements: statements, values: values, rejected: rejected, meta: meta,
                lastVoteEvent: try await sql.lastVoteEvent(conversationID: conversationID))
        }
    }

    public func lastVoteEvent(conversationID: Int64) async throws -> Int64 {
        try await readOne { sql in try await sql.lastVoteEvent(conversationID: conversationID) }
    }

    public func saveAnalysis(_ analysis: StoredAnalysis) async throws {
        try await write { sql in
            try await sql.execute(
                """
                INSERT INTO analysis (conversation_id, computed_at, vote_count, last_vote_event, duration_ms, parameters, result)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (conversation_id) DO UPDATE SET computed_at = excluded.computed_at,
                    vote_count = excluded.vote_count, last_vote_event = excluded.last_vote_event,
                    duration_ms = excluded.duration_ms, parameters = excluded.parameters, result = excluded.result
                """, analysis.conversationID, analysis.computedAt, analysis.voteCount, analysis.lastVoteEvent,
                analysis.durationMs, analysis.parameters, analysis.result)
            if let groups = analysis.groupCount {
                try await sql.recordGroupCount(
                    conversationID: analysis.conversationID, groups: groups, at: analysis.computedAt)
            }
            try await sql.recordStatementScores(
                conversationID: analysis.conversationID, analysis.statementScores, at: analysis.computedAt)
            // The other servers learn of it when this commits (`ServerCoordination`'s `analysed`).
            try await sql.execute("SELECT pg_notify('charter_analysis', ?)", String(analysis.conversationID))
        }
    }

    public func latestAnalysis(conversationID: Int64) async throws -> StoredAnalysis? {
        try await readOne { sql in
            try await sql.row("SELECT * FROM analysis WHERE conversation_id = ?", conversationID).map { row in
                StoredAnalysis(
                    conversationID: try row("conversation_id"), computedAt: try row("computed_at"),
                    voteCount: Int(try row("vote_count", as: Int32.self)), lastVoteEvent: try row("last_vote_event"),
                    durationMs: try row("duration_ms"), parameters: try row("parameters"), result: try row("result"))
            }
        }
    }

    public func sourceIDs(conversationID: Int64) async throws -> (
        participants: [Int64: String], statements: [Int64: String]
    ) {
        try await read { sql in
            (
                try await sql.sourceIDs(table: "participant", conversationID: conversationID),
                try await sql.sourceIDs(table: "statement", conversationID: conversationID)
            )
        }
    }

    public func importPolis(_ export: PolisExport, settings: ConversationSettings, by actor: Actor) async throws
        -> ImportSummary
    {
        let settings = try settings.validated()
        return try await write { sql in
            // Two imports of one slug, on any servers, run one after the other.
            try await sql.lock("import:" + settings.slug)
            var created = false
            let conversation: Conversation
            if let existing = try await sql.row("SELECT * FROM conversation WHERE slug = ?", settings.slug) {
                try Self.checkImportable(existing, slug: settings.slug)
                conversation = try Conversation(existing)
            } else {
                let columns = ConversationSettings.columnNames + ["created_at", "origin"]
                let placeholders = Array(repeating: "?", count: columns.count).joined(separator: ", ")
                // The UNIQUE slug decides against a conversation created at the same moment.
                if let id = try await sql.rows(
                    """
                    INSERT INTO conversation (\(columns.joined(separator: ", "))) VALUES (\(placeholders))
                    ON CONFLICT (slug) DO NOTHING RETURNING id
                    """, values: settings.columnValues + [Date(), "polis-import"]
                ).first?.at(0, as: Int64.self) {
                    if let organiserID = actor.organiserID {
                        try await sql.execute(
                            "INSERT INTO conversation_member (conversation_id, organiser_id, role) VALUES (?, ?, 'owner')",
                            id, organiserID)
                    }
                    guard let inserted = try await sql.conversation(id: id) else {
                        throw CharterError.notFound("Conversation")
                    }
                    conversation = inserted
                    created = true
                } else {
                    guard let existing = try await sql.row("SELECT * FROM conversation WHERE slug = ?", settings.slug)
                    else { throw CharterError.notFound("Conversation") }
                    try Self.checkImportable(existing, slug: settings.slug)
                    conversation = try Conversation(existing)
                }
            }
            let now = Date()

            // Participants: every voter and every author, by their Polis id.
            var participantRow = try await sql.importedRows(table: "participant", conversationID: conversation.id)
            let people = PolisImportMapping.people(in: export).filter { participantRow[$0.source] == nil }
            if !people.isEmpty {
                let inserted = try await sql.rows(
                    """
                    INSERT INTO participant (conversation_id, xid, anonymous_id, source_id, created_at)
                    SELECT ?, CASE WHEN h THEN x END, CASE WHEN h THEN NULL ELSE a END, src, ?
                    FROM unnest(?::text[], ?::text[], ?::boolean[], ?::text[]) WITH ORDINALITY AS u(x, a, h, src, n)
                    ORDER BY n
                    RETURNING id, source_id
                    """, conversation.id, now, people.map { $0.xid ?? "" },
                    people.map { $0.xid == nil ? PolisImportMapping.anonymousID(source: $0.source) : "" },
                    people.map { $0.xid != nil }, people.map { String($0.source) })
                for row in inserted {
                    if let source = Int64(try row.at(1, as: String.self)) {
                        participantRow[source] = try row.at(0, as: Int64.self)
                    }
                }
            }
            let participantsAdded = people.count

            // Statements by comment id; an exact duplicate text keeps its own row.
            var statementRow = try await sql.importedRows(table: "statement", conversationID: conversation.id)
            var taken = Set(
                try await sql.values(
                    String.self, "SELECT duplicate_key FROM statement WHERE conversation_id = ?", conversation.id))
            var comments: [ImportedComment] = []
            for comment in PolisImportMapping.comments(in: export) where statementRow[comment.id] == nil {
                let key = PolisImportMapping.duplicateKey(
                    of: comment, taken: taken.contains(StatementText.duplicateKey(comment.text)))
                taken.insert(key)
                comments.append(
                    ImportedComment(
                        comment: comment, key: key, authorID: comment.authorID.flatMap { participantRow[$0] }))
            }
            for (source, id) in try await sql.insertImported(comments, conversationID: conversation.id, now: now) {
                statementRow[source] = id
            }
            // A text another transaction stored since the keys were read is taken after all.
            let missed = comments.filter { statementRow[$0.comment.id] == nil }.map {
                var late = $0
                late.key = PolisImportMapping.duplicateKey(of: $0.comment, taken: true)
                return late
            }
            for (source, id) in try await sql.insertImported(
                missed, conversationID: conversation.id, now: now, ignoringConflicts: false)
            {
                statementRow[source] = id
            }
            let statementsAdded = comments.count

            // Votes: a final vote that differs from the stored one is a new event.
            var current: [ImportedPair: Int8] = [:]
            if let row = try await sql.row(
                """
                SELECT COALESCE(array_agg(participant_id), '{}'), COALESCE(array_agg(statement_id), '{}'),
                    COALESCE(array_agg(value), '{}')
                FROM vote WHERE conversation_id = ?
                """, conversation.id)
            {
                let participants = try row.at(0, as: [Int64].self)
                let statements = try row.at(1, as: [Int64].self)
                let values = try row.at(2, as: [Int16].self)
                for i in participants.indices {
                    current[ImportedPair(participant: participants[i], statement: statements[i])] = Int8(values[i])
                }
            }
            var eventParticipants: [Int64] = []
            var eventStatements: [Int64] = []
            var eventValues: [Int16] = []
            for vote in export.votes {
                guard let p = participantRow[vote.participant], let s = statementRow[vote.comment] else { continue }
                let pair = ImportedPair(participant: p, statement: s)
                if current[pair] == vote.value { continue }
                eventParticipants.append(p)
                eventStatements.append(s)
                eventValues.append(Int16(vote.value))
                current[pair] = vote.value
            }
            if !eventParticipants.isEmpty {
                // The events in the export's order (the identity column numbers them in insert
                // order), then each pair's current vote from its last event.
                try await sql.execute(
                    """
                    WITH batch AS (
                        SELECT p, s, v, n FROM unnest(?::bigint[], ?::bigint[], ?::smallint[]) WITH ORDINALITY AS u(p, s, v, n)
                    ), event AS (
                        INSERT INTO vote_event (conversation_id, participant_id, statement_id, value, created_at)
                        SELECT ?, p, s, v, ? FROM batch ORDER BY n
                        RETURNING id, participant_id, statement_id, value
                    )
                    INSERT INTO vote (participant_id, statement_id, conversation_id, value, event_id, created_at)
                    SELECT DISTINCT ON (participant_id, statement_id) participant_id, statement_id, ?, value, id, ?
                    FROM event ORDER BY participant_id, statement_id, id DESC
                    ON CONFLICT (participant_id, statement_id)
                    DO UPDATE SET value = excluded.value, event_id = excluded.event_id, created_at = excluded.created_at
                    """, eventParticipants, eventStatements, eventValues, conversation.id, now, conversation.id, now)
            }
            let votesAdded = eventParticipants.count
            if created || statementsAdded + participantsAdded + votesAdded > 0 {
                try await sql.audit(
                    actor, .conversationImport, conversationID: conversation.id,
                    detail:
                        "Polis export: \(statementsAdded) statements, \(participantsAdded) participants, \(votesAdded) votes added"
                )
            }
            return ImportSummary(
                conversation: conversation, createdConversation: created, statementsAdded: statementsAdded,
                participantsAdded: participantsAdded, votesAdded: votesAdded)
        }
    }

    /// Votes imported into a live conversation would be votes nobody cast there.
    static func checkImportable(_ row: SQLRow, slug: String) throws {
        if try row("origin", as: String.self) != "polis-import" {
            throw CharterError.conflict(
                "'\(slug)' is a conversation of this server, not an import; import into another slug.")
        }
    }
}

/// A comment about to be stored, with its duplicate key and author row.
private struct ImportedComment {
    var comment: PolisExport.Comment
    var key: String
    var authorID: Int64?
}

private struct ImportedPair: Hashable {
    var participant: Int64
    var statement: Int64
}

extension SQLConnection {
    fileprivate func lastVoteEvent(conversationID: Int64) async throws -> Int64 {
        try await value(Int64.self, "SELECT MAX(id) FROM vote_event WHERE conversation_id = ?", conversationID) ?? 0
    }

    /// Row id → source id of the imported rows of `participant` or `statement`.
    fileprivate func sourceIDs(table: String, conversationID: Int64) async throws -> [Int64: String] {
        var ids: [Int64: String] = [:]
        for row in try await rows(
            "SELECT id, source_id FROM \(table) WHERE conversation_id = ? AND source_id IS NOT NULL", conversationID)
        {
            ids[try row.at(0, as: Int64.self)] = try row.at(1, as: String.self)
        }
        return ids
    }

    /// Polis id → row id of the imported rows of `participant` or `statement`.
    fileprivate func importedRows(table: String, conversationID: Int64) async throws -> [Int64: Int64] {
        var rows: [Int64: Int64] = [:]
        for (id, source) in try await sourceIDs(table: table, conversationID: conversationID) {
            if let source = Int64(source) { rows[source] = id }
        }
        return rows
    }

    /// Inserts the comments in order; returns Polis id → row id of those stored. With
    /// `ignoringConflicts`, a comment whose duplicate key another transaction has just taken is
    /// left out (and not returned).
    fileprivate func insertImported(
        _ comments: [ImportedComment], conversationID: Int64, now: Date, ignoringConflicts: Bool = true
    ) async throws -> [Int64: Int64] {
        guard !comments.isEmpty else { return [:] }
        let inserted = try await rows(
            """
            INSERT INTO statement (conversation_id, author_id, text, duplicate_key, is_seed, is_meta, moderation,
                                   source_id, created_at)
            SELECT ?, CASE WHEN has_author THEN author END, t, k, seed, meta, m, src, created
            FROM unnest(?::bigint[], ?::boolean[], ?::text[], ?::text[], ?::boolean[], ?::boolean[], ?::text[],
                        ?::text[], ?::timestamptz[])
                WITH ORDINALITY AS u(author, has_author, t, k, seed, meta, m, src, created, n)
            ORDER BY n
            \(ignoringConflicts ? "ON CONFLICT (conversation_id, duplicate_key) DO NOTHING" : "")
            RETURNING id, source_id
            """, conversationID, comments.map { $0.authorID ?? 0 }, comments.map { $0.authorID != nil },
            comments.map(\.comment.text), comments.map(\.key), comments.map(\.comment.isSeed),
            comments.map(\.comment.isMeta), comments.map { PolisImportMapping.moderation(of: $0.comment).rawValue },
            comments.map { String($0.comment.id) },
            comments.map { PolisImportMapping.createdAt(of: $0.comment, importedAt: now) })
        var ids: [Int64: Int64] = [:]
        for row in inserted {
            if let source = Int64(try row.at(1, as: String.self)) { ids[source] = try row.at(0, as: Int64.self) }
        }
        return ids
    }
}

// MARK: - Constitutions

extension PostgresStore {
    public func publishConstitution(
        conversationID: Int64, by actor: Actor, makeBody: @Sendable (Int) throws -> (body: Data, sha256: String)
    ) async throws -> StoredConstitution {
        try await write { sql in
            // The conversation's row, locked, makes two publishers take their turns.
            guard try await sql.conversation(id: conversationID, lock: true) != nil else {
                throw CharterError.notFound("Conversation")
            }
            let version =
                Int(
                    try await sql.value(
                        Int32.self, "SELECT MAX(version) FROM constitution WHERE conversation_id = ?", conversationID)
                        ?? 0) + 1
            let (body, sha256) = try makeBody(version)
            let latest = try await sql.value(
                String.self,
                "SELECT sha256 FROM constitution WHERE conversation_id = ? ORDER BY version DESC LIMIT 1",
                conversationID)
            if latest == sha256 { throw CharterError.constitutionUnchanged(version: version - 1) }
            let now = Date()
            guard
                let id = try await sql.value(
                    Int64.self,
                    """
                    INSERT INTO constitution (conversation_id, version, sha256, body, created_at, created_by)
                    VALUES (?, ?, ?, ?, ?, ?) RETURNING id
                    """, conversationID, Int32(version), sha256, body, now, actor.name)
            else { throw StorageUnavailable(reason: "a constitution's insert returned no id") }
            try await sql.audit(
                actor, .constitutionPublish, conversationID: conversationID,
                detail: "version \(version), sha256 \(sha256)")
            return StoredConstitution(
                id: id, conversationID: conversationID, version: version, sha256: sha256, body: body, createdAt: now,
                createdBy: actor.name)
        }
    }

    public func constitution(id: Int64) async throws -> StoredConstitution? {
        try await readOne { sql in
            try await sql.row("SELECT * FROM constitution WHERE id = ?", id).map(StoredConstitution.init)
        }
    }

    public func constitutions(conversationID: Int64) async throws -> [StoredConstitution] {
        try await readOne { sql in
            try await sql.rows(
                "SELECT * FROM constitution WHERE conversation_id = ? ORDER BY version DESC", conversationID
            ).map(StoredConstitution.init)
        }
    }

    public func principleWordings(conversationID: Int64) async throws -> [Int64: String] {
        try await readOne { sql in
            var wordings: [Int64: String] = [:]
            for row in try await sql.rows(
                "SELECT statement_id, text FROM principle_wording WHERE conversation_id = ?", conversationID)
            {
                wordings[try row.at(0, as: Int64.self)] = try row.at(1, as: String.self)
            }
            return wordings
        }
    }

    public func setPrincipleWording(conversationID: Int64, statementID: Int64, text: String?, by actor: Actor)
        async throws
    {
        let text = text?.trimmingCharacters(in: .whitespacesAndNewlines)
        if let text, text.isEmpty || text.count > 2000 {
            throw CharterError.invalid(field: "text", message: "A principle's wording must be 1–2000 characters.")
        }
        try await write { sql in
            guard
                try await sql.value(Int64.self, "SELECT conversation_id FROM statement WHERE id = ?", statementID)
                    == conversationID
            else { throw CharterError.notFound("Statement") }
            if let text {
                try await sql.execute(
                    """
                    INSERT INTO principle_wording (conversation_id, statement_id, text, updated_at, updated_by)
                    VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (conversation_id, statement_id)
                    DO UPDATE SET text = excluded.text, updated_at = excluded.updated_at, updated_by = excluded.updated_by
                    """, conversationID, statementID, text, Date(), actor.name)
            } else {
                try await sql.execute(
                    "DELETE FROM principle_wording WHERE conversation_id = ? AND statement_id = ?", conversationID,
                    statementID)
            }
            try await sql.audit(
                actor, text == nil ? .principleRewordReset : .principleReword, conversationID: conversationID,
                statementID: statementID, detail: text ?? "back to the rule-based wording")
        }
    }

    public func principleGroupings(conversationID: Int64) async throws -> [Int64: Int64?] {
        try await readOne { sql in
            var groupings: [Int64: Int64?] = [:]
            for row in try await sql.rows(
                "SELECT statement_id, lead_id FROM principle_grouping WHERE conversation_id = ?", conversationID)
            {
                groupings[try row.at(0, as: Int64.self)] = .some(try row.at(1, as: Int64?.self))
            }
            return groupings
        }
    }

    public func setPrincipleGrouping(
        conversationID: Int64, statementID: Int64, grouping: PrincipleGrouping, by actor: Actor
    ) async throws {
        try await write { sql in
            var ids = [statementID]
            if case .merge(let lead) = grouping {
                guard lead != statementID else {
                    throw CharterError.invalid(
                        field: "merge_into", message: "A statement cannot be merged into itself.")
                }
                ids.append(lead)
            }
            for id in ids {
                guard
                    try await sql.value(Int64.self, "SELECT conversation_id FROM statement WHERE id = ?", id)
                        == conversationID
                else { throw CharterError.notFound("Statement \(id)") }
            }
            let detail: String
            switch grouping {
            case .automatic:
                try await sql.execute(
                    "DELETE FROM principle_grouping WHERE conversation_id = ? AND statement_id = ?", conversationID,
                    statementID)
                detail = "back to automatic merging"
            case .split, .merge:
                let lead: Int64? = if case .merge(let into) = grouping { into } else { nil }
                try await sql.execute(
                    """
                    INSERT INTO principle_grouping (conversation_id, statement_id, lead_id, updated_at, updated_by)
                    VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (conversation_id, statement_id)
                    DO UPDATE SET lead_id = excluded.lead_id, updated_at = excluded.updated_at, updated_by = excluded.updated_by
                    """, conversationID, statementID, lead, Date(), actor.name)
                detail = lead.map { "merged into statement \($0)" } ?? "kept apart"
            }
            try await sql.audit(
                actor, .principleGroup, conversationID: conversationID, statementID: statementID, detail: detail)
        }
    }
}

extension StoredConstitution {
    init(_ row: SQLRow) throws {
        self.init(
            id: try row("id"), conversationID: try row("conversation_id"),
            version: Int(try row("version", as: Int32.self)), sha256: try row("sha256"), body: try row("body"),
            createdAt: try row("created_at"), createdBy: try row("created_by"))
    }
}
