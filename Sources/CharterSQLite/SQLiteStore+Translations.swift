public import CharterDomain
public import CharterStore
import Foundation
import GRDB

// The language each statement is written in, and organisers' translations of statements.
extension SQLiteStore {
    public func setStatementLanguage(id: Int64, conversationID: Int64, language: String?, by actor: Actor)
        async throws -> CharterDomain.Statement
    {
        try await write { db in
            let (conversation, before) = try Self.fetchStatementToTranslate(db, id: id, conversationID: conversationID)
            let translated = Set(
                try String.fetchAll(
                    db, sql: "SELECT language FROM statement_translation WHERE statement_id = ?", arguments: [id]))
            let language = try StatementTranslations.validatedLanguage(
                language, of: before, in: conversation, translated: translated)
            guard language != before.language else { return before }
            try db.execute(sql: "UPDATE statement SET language = ? WHERE id = ?", arguments: [language, id])
            try Self.audit(
                db, actor, .statementLanguage, conversationID: conversationID, statementID: id,
                detail: StatementTranslations.languageAuditDetail(
                    from: before.language, to: language, conversationLanguage: conversation.settings.language))
            return try Self.fetchStatement(db, id: id)!
        }
    }

    public func setTranslation(
        statementID: Int64, conversationID: Int64, language: String, text: String, by actor: Actor
    ) async throws -> StatementTranslation {
        try await write { db in
            let (conversation, statement) = try Self.fetchStatementToTranslate(
                db, id: statementID, conversationID: conversationID)
            let (language, text) = try StatementTranslations.validated(
                language: language, text: text, of: statement, in: conversation)
            let old = try String.fetchOne(
                db, sql: "SELECT text FROM statement_translation WHERE statement_id = ? AND language = ?",
                arguments: [statementID, language])
            let translation = StatementTranslation(
                statementID: statementID, language: language, text: text, updatedAt: Date())
            guard old != text else {
                return try Self.fetchTranslation(db, statementID: statementID, language: language) ?? translation
            }
            try db.execute(
                sql: """
                    INSERT INTO statement_translation (statement_id, language, text, updated_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT (statement_id, language) DO UPDATE SET text = excluded.text,
                        updated_at = excluded.updated_at
                    """,
                arguments: [statementID, language, text, translation.updatedAt])
            try Self.audit(
                db, actor, .statementTranslate, conversationID: conversationID, statementID: statementID,
                detail: StatementTranslations.auditDetail(language: language, text: text, replacing: old))
            return translation
        }
    }

    public func deleteTranslation(statementID: Int64, conversationID: Int64, language: String, by actor: Actor)
        async throws -> Bool
    {
        let language = try LanguageCode.validated(language, field: "language")
        return try await write { db in
            _ = try Self.fetchStatementToTranslate(db, id: statementID, conversationID: conversationID)
            guard let old = try Self.fetchTranslation(db, statementID: statementID, language: language) else {
                return false
            }
            try db.execute(
                sql: "DELETE FROM statement_translation WHERE statement_id = ? AND language = ?",
                arguments: [statementID, language])
            try Self.audit(
                db, actor, .statementTranslationDelete, conversationID: conversationID, statementID: statementID,
                detail: StatementTranslations.deleteAuditDetail(language: language, text: old.text))
            return true
        }
    }

    public func translations(statementID: Int64) async throws -> [StatementTranslation] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM statement_translation WHERE statement_id = ? ORDER BY language",
                arguments: [statementID]
            ).map(StatementTranslation.init(row:))
        }
    }

    public func translations(conversationID: Int64) async throws -> [Int64: [StatementTranslation]] {
        try await pool.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT t.* FROM statement_translation t JOIN statement s ON s.id = t.statement_id
                    WHERE s.conversation_id = ? ORDER BY t.statement_id, t.language
                    """,
                arguments: [conversationID])
            return Dictionary(grouping: rows.map(StatementTranslation.init(row:)), by: \.statementID)
        }
    }

    private static func fetchTranslation(_ db: Database, statementID: Int64, language: String) throws
        -> StatementTranslation?
    {
        try Row.fetchOne(
            db, sql: "SELECT * FROM statement_translation WHERE statement_id = ? AND language = ?",
            arguments: [statementID, language]
        ).map(StatementTranslation.init(row:))
    }

    private static func fetchStatementToTranslate(_ db: Database, id: Int64, conversationID: Int64) throws
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

extension StatementTranslation {
    init(row: Row) {
        self.init(
            statementID: row["statement_id"], language: row["language"], text: row["text"],
            updatedAt: row["updated_at"])
    }
}
