public import CharterDomain
public import CharterStore
import Foundation
import GRDB
import GRDBSQLite

extension SQLiteStore {
    public func analysisSnapshot(conversationID: Int64) async throws -> AnalysisSnapshot {
        try await pool.read { db in
            var participants: [Int64] = []
            var statements: [Int64] = []
            var values: [Int8] = []
            // By participant: one seek per participant into the vote table's primary key, then
            // its votes in key order, rather than one seek per vote through vote_by_conversation
            // (whose entries lack the value). The unary + keeps the planner off that index.
            // The rows are stepped by hand and read as plain integers: no row objects, no
            // per-row decoding, three arrays out.
            let statement = try db.makeStatement(
                sql: """
                    SELECT vote.participant_id, vote.statement_id, vote.value
                    FROM participant CROSS JOIN vote ON vote.participant_id = participant.id
                    WHERE participant.conversation_id = ? AND +vote.conversation_id = ?
                    """)
            try statement.setArguments([conversationID, conversationID])
            let handle = statement.sqliteStatement
            defer { sqlite3_reset(handle) }
            while true {
                let code = sqlite3_step(handle)
                if code == SQLITE_DONE { break }
                guard code == SQLITE_ROW else {
                    throw DatabaseError(
                        resultCode: ResultCode(rawValue: code),
                        message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
                }
                participants.append(sqlite3_column_int64(handle, 0))
                statements.append(sqlite3_column_int64(handle, 1))
                values.append(Int8(clamping: sqlite3_column_int64(handle, 2)))
            }
            let rejected = try Int64.fetchSet(
                db, sql: "SELECT id FROM statement WHERE conversation_id = ? AND moderation = 'rejected'",
                arguments: [conversationID])
            let meta = try Int64.fetchSet(
                db, sql: "SELECT id FROM statement WHERE conversation_id = ? AND is_meta = 1",
                arguments: [conversationID])
            return AnalysisSnapshot(
                participants: participants, statements: statements, values: values, rejected: rejected, meta: meta,
                lastVoteEvent: try Self.fetchLastVoteEvent(db, conversationID: conversationID))
        }
    }

    public func lastVoteEvent(conversationID: Int64) async throws -> Int64 {
        try await pool.read { db in try Self.fetchLastVoteEvent(db, conversationID: conversationID) }
    }

    static func fetchLastVoteEvent(_ db: Database, conversationID: Int64) throws -> Int64 {
        try Int64.fetchOne(
            db, sql: "SELECT MAX(id) FROM vote_event WHERE conversation_id = ?", arguments: [conversationID])
            ?? 0
    }

    public func saveAnalysis(_ analysis: StoredAnalysis) async throws {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO analysis (conversation_id, computed_at, vote_count, last_vote_event, duration_ms, parameters, result)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (conversation_id) DO UPDATE SET computed_at = excluded.computed_at,
                        vote_count = excluded.vote_count, last_vote_event = excluded.last_vote_event,
                        duration_ms = excluded.duration_ms, parameters = excluded.parameters, result = excluded.result
                    """,
                arguments: [
                    analysis.conversationID, analysis.computedAt, analysis.voteCount, analysis.lastVoteEvent,
                    analysis.durationMs, analysis.parameters, analysis.result,
                ])
            if let groups = analysis.groupCount {
                try Self.recordGroupCount(
                    db, conversationID: analysis.conversationID, groups: groups, at: analysis.computedAt)
            }
            try Self.recordStatementScores(
                db, conversationID: analysis.conversationID, analysis.statementScores, at: analysis.computedAt)
        }
    }

    public func latestAnalysis(conversationID: Int64) async throws -> StoredAnalysis? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM analysis WHERE conversation_id = ?", arguments: [conversationID])
                .map {
                    StoredAnalysis(
                        conversationID: $0["conversation_id"], computedAt: $0["computed_at"],
                        voteCount: $0["vote_count"],
                        lastVoteEvent: $0["last_vote_event"], durationMs: $0["duration_ms"],
                        parameters: $0["parameters"],
                        result: $0["result"])
                }
        }
    }

    public func sourceIDs(conversationID: Int64) async throws -> (
        participants: [Int64: String], statements: [Int64: String]
    ) {
        try await pool.read { db in
            var participants: [Int64: String] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT id, source_id FROM participant WHERE conversation_id = ? AND source_id IS NOT NULL",
                arguments: [conversationID])
            {
                participants[row[0]] = row[1]
            }
            var statements: [Int64: String] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT id, source_id FROM statement WHERE conversation_id = ? AND source_id IS NOT NULL",
                arguments: [conversationID])
            {
                statements[row[0]] = row[1]
            }
            return (participants, statements)
        }
    }

    public func importPolis(_ export: PolisExport, settings: ConversationSettings, by actor: Actor) async throws
        -> ImportSummary
    {
        let settings = try settings.validated()
        return try await write { db in
            var created = false
            var conversation = try Row.fetchOne(
                db, sql: "SELECT * FROM conversation WHERE slug = ?", arguments: [settings.slug]
            ).map(Conversation.init(row:))
            if conversation == nil {
                let columns = ConversationSettings.columnNames + ["created_at"]
                let placeholders = Array(repeating: "?", count: columns.count).joined(separator: ", ")
                try db.execute(
                    sql: "INSERT INTO conversation (\(columns.joined(separator: ", "))) VALUES (\(placeholders))",
                    arguments: StatementArguments(settings.columnValues + [Date()]))
                let id = db.lastInsertedRowID
                try db.execute(sql: "UPDATE conversation SET origin = 'polis-import' WHERE id = ?", arguments: [id])
                if let organiserID = actor.organiserID {
                    try db.execute(
                        sql:
                            "INSERT INTO conversation_member (conversation_id, organiser_id, role) VALUES (?, ?, 'owner')",
                        arguments: [id, organiserID])
                }
                conversation = try Self.fetchConversation(db, id: id)
                created = true
            } else if let existing = conversation,
                try String.fetchOne(db, sql: "SELECT origin FROM conversation WHERE id = ?", arguments: [existing.id])
                    != "polis-import"
            {
                // Votes imported into a live conversation would be votes nobody cast there.
                throw CharterError.conflict(
                    "'\(settings.slug)' is a conversation of this server, not an import; import into another slug.")
            }
            guard let conversation else { throw CharterError.notFound("Conversation") }
            let now = Date()

            // Participants: every voter and every author, by their Polis id.
            var participantRow: [Int64: Int64] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT id, source_id FROM participant WHERE conversation_id = ? AND source_id IS NOT NULL",
                arguments: [conversation.id])
            {
                if let source = Int64(row[1] as String) { participantRow[source] = row[0] }
            }
            var participantsAdded = 0
            let insertParticipant = try db.cachedStatement(
                sql: """
                    INSERT INTO participant (conversation_id, xid, anonymous_id, source_id, created_at)
                    VALUES (?, ?, ?, ?, ?)
                    """)
            for (source, xid) in PolisImportMapping.people(in: export) where participantRow[source] == nil {
                try insertParticipant.execute(arguments: [
                    conversation.id, xid, xid == nil ? PolisImportMapping.anonymousID(source: source) : nil,
                    String(source), now,
                ])
                participantRow[source] = db.lastInsertedRowID
                participantsAdded += 1
            }

            // Statements by comment id; an exact duplicate text keeps its own row.
            var statementRow: [Int64: Int64] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT id, source_id FROM statement WHERE conversation_id = ? AND source_id IS NOT NULL",
                arguments: [conversation.id])
            {
                if let source = Int64(row[1] as String) { statementRow[source] = row[0] }
            }
            var statementsAdded = 0
            for comment in PolisImportMapping.comments(in: export) where statementRow[comment.id] == nil {
                let taken =
                    try Bool.fetchOne(
                        db, sql: "SELECT 1 FROM statement WHERE conversation_id = ? AND duplicate_key = ?",
                        arguments: [conversation.id, StatementText.duplicateKey(comment.text)]) == true
                let key = PolisImportMapping.duplicateKey(of: comment, taken: taken)
                let moderation = PolisImportMapping.moderation(of: comment)
                try db.execute(
                    sql: """
                        INSERT INTO statement (conversation_id, author_id, text, duplicate_key, is_seed, is_meta, moderation,
                                               source_id, created_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        conversation.id, comment.authorID.flatMap { participantRow[$0] }, comment.text, key,
                        comment.isSeed,
                        comment.isMeta, moderation.rawValue, String(comment.id),
                        PolisImportMapping.createdAt(of: comment, importedAt: now),
                    ])
                statementRow[comment.id] = db.lastInsertedRowID
                statementsAdded += 1
            }

            // Votes: a final vote that differs from the stored one is a new event.
            var current: [Pair: Int8] = [:]
            let cursor = try Row.fetchCursor(
                db, sql: "SELECT participant_id, statement_id, value FROM vote WHERE conversation_id = ?",
                arguments: [conversation.id])
            while let row = try cursor.next() { current[Pair(participant: row[0], statement: row[1])] = row[2] }
            let insertEvent = try db.cachedStatement(
                sql: """
                    INSERT INTO vote_event (conversation_id, participant_id, statement_id, value, created_at)
                    VALUES (?, ?, ?, ?, ?)
                    """)
            let upsertVote = try db.cachedStatement(
                sql: """
                    INSERT INTO vote (participant_id, statement_id, conversation_id, value, event_id, created_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (participant_id, statement_id)
                    DO UPDATE SET value = excluded.value, event_id = excluded.event_id, created_at = excluded.created_at
                    """)
            var votesAdded = 0
            for vote in export.votes {
                guard let p = participantRow[vote.participant], let s = statementRow[vote.comment] else { continue }
                let pair = Pair(participant: p, statement: s)
                if current[pair] == vote.value { continue }
                try insertEvent.execute(arguments: [conversation.id, p, s, vote.value, now])
                try upsertVote.execute(arguments: [p, s, conversation.id, vote.value, db.lastInsertedRowID, now])
                current[pair] = vote.value
                votesAdded += 1
            }
            if created || statementsAdded + participantsAdded + votesAdded > 0 {
                try Self.audit(
                    db, actor, .conversationImport, conversationID: conversation.id,
                    detail:
                        "Polis export: \(statementsAdded) statements, \(participantsAdded) participants, \(votesAdded) votes added"
                )
            }
            return ImportSummary(
                conversation: conversation, createdConversation: created, statementsAdded: statementsAdded,
                participantsAdded: participantsAdded, votesAdded: votesAdded)
        }
    }

    struct Pair: Hashable {
        var participant: Int64
        var statement: Int64
    }
}
