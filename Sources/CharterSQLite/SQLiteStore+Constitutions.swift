import CharterDomain
public import CharterStore
public import Foundation
import GRDB

extension SQLiteStore {
    public func publishConstitution(
        conversationID: Int64, by actor: Actor, makeBody: @Sendable (Int) throws -> (body: Data, sha256: String)
    ) async throws -> StoredConstitution {
        try await write { db in
            guard try Self.fetchConversation(db, id: conversationID) != nil else {
                throw CharterError.notFound("Conversation")
            }
            let version =
                (try Int.fetchOne(
                    db, sql: "SELECT MAX(version) FROM constitution WHERE conversation_id = ?",
                    arguments: [conversationID])
                    ?? 0) + 1
            let (body, sha256) = try makeBody(version)
            let latest = try String.fetchOne(
                db, sql: "SELECT sha256 FROM constitution WHERE conversation_id = ? ORDER BY version DESC LIMIT 1",
                arguments: [conversationID])
            if latest == sha256 { throw CharterError.constitutionUnchanged(version: version - 1) }
            let now = Date()
            try db.execute(
                sql: """
                    INSERT INTO constitution (conversation_id, version, sha256, body, created_at, created_by)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [conversationID, version, sha256, body, now, actor.name])
            let id = db.lastInsertedRowID
            try Self.audit(
                db, actor, .constitutionPublish, conversationID: conversationID,
                detail: "version \(version), sha256 \(sha256)")
            return StoredConstitution(
                id: id, conversationID: conversationID, version: version, sha256: sha256, body: body, createdAt: now,
                createdBy: actor.name)
        }
    }

    static func constitution(_ row: Row) -> StoredConstitution {
        StoredConstitution(
            id: row["id"], conversationID: row["conversation_id"], version: row["version"], sha256: row["sha256"],
            body: row["body"], createdAt: row["created_at"], createdBy: row["created_by"])
    }

    public func constitution(id: Int64) async throws -> StoredConstitution? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM constitution WHERE id = ?", arguments: [id]).map(Self.constitution)
        }
    }

    public func constitutions(conversationID: Int64) async throws -> [StoredConstitution] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM constitution WHERE conversation_id = ? ORDER BY version DESC",
                arguments: [conversationID]
            ).map(Self.constitution)
        }
    }

    public func principleWordings(conversationID: Int64) async throws -> [Int64: String] {
        try await pool.read { db in
            var wordings: [Int64: String] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT statement_id, text FROM principle_wording WHERE conversation_id = ?",
                arguments: [conversationID])
            {
                wordings[row[0]] = row[1]
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
        try await write { db in
            guard
                try Int64.fetchOne(
                    db, sql: "SELECT conversation_id FROM statement WHERE id = ?", arguments: [statementID])
                    == conversationID
            else { throw CharterError.notFound("Statement") }
            if let text {
                try db.execute(
                    sql: """
                        INSERT INTO principle_wording (conversation_id, statement_id, text, updated_at, updated_by)
                        VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (conversation_id, statement_id)
                        DO UPDATE SET text = excluded.text, updated_at = excluded.updated_at, updated_by = excluded.updated_by
                        """,
                    arguments: [conversationID, statementID, text, Date(), actor.name])
            } else {
                try db.execute(
                    sql: "DELETE FROM principle_wording WHERE conversation_id = ? AND statement_id = ?",
                    arguments: [conversationID, statementID])
            }
            try Self.audit(
                db, actor, text == nil ? .principleRewordReset : .principleReword, conversationID: conversationID,
                statementID: statementID, detail: text ?? "back to the rule-based wording")
        }
    }
}

extension SQLiteStore {
    public func principleGroupings(conversationID: Int64) async throws -> [Int64: Int64?] {
        try await pool.read { db in
            var groupings: [Int64: Int64?] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT statement_id, lead_id FROM principle_grouping WHERE conversation_id = ?",
                arguments: [conversationID])
            {
                groupings[row[0]] = .some(row[1] as Int64?)
            }
            return groupings
        }
    }

    public func setPrincipleGrouping(
        conversationID: Int64, statementID: Int64, grouping: PrincipleGrouping, by actor: Actor
    ) async throws {
        try await write { db in
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
                    try Int64.fetchOne(db, sql: "SELECT conversation_id FROM statement WHERE id = ?", arguments: [id])
                        == conversationID
                else { throw CharterError.notFound("Statement \(id)") }
            }
            let detail: String
            switch grouping {
            case .automatic:
                try db.execute(
                    sql: "DELETE FROM principle_grouping WHERE conversation_id = ? AND statement_id = ?",
                    arguments: [conversationID, statementID])
                detail = "back to automatic merging"
            case .split, .merge:
                let lead: Int64? = if case .merge(let into) = grouping { into } else { nil }
                try db.execute(
                    sql: """
                        INSERT INTO principle_grouping (conversation_id, statement_id, lead_id, updated_at, updated_by)
                        VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (conversation_id, statement_id)
                        DO UPDATE SET lead_id = excluded.lead_id, updated_at = excluded.updated_at, updated_by = excluded.updated_by
                        """,
                    arguments: [conversationID, statementID, lead, Date(), actor.name])
                detail = lead.map { "merged into statement \($0)" } ?? "kept apart"
            }
            try Self.audit(
                db, actor, .principleGroup, conversationID: conversationID, statementID: statementID, detail: detail)
        }
    }
}
