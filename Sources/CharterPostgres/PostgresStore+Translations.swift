public import CharterDomain
public import CharterStore
import Foundation

// The language each statement is written in, and organisers' translations of statements. Each
// change locks the statement's row first, so a new language and a new translation of the same
// statement cannot pass their checks side by side.
extension PostgresStore {
    public func setStatementLanguage(id: Int64, conversationID: Int64, language: String?, by actor: Actor)
        async throws -> Statement
    {
        try await write { sql in
            let (conversation, before) = try await sql.statementToTranslate(id: id, conversationID: conversationID)
            let translated = Set(
                try await sql.values(
                    String.self, "SELECT language FROM statement_translation WHERE statement_id = ?", id))
            let language = try StatementTranslations.validatedLanguage(
                language, of: before, in: conversation, translated: translated)
            guard language != before.language else { return before }
            guard
                let after = try await sql.row(
                    "UPDATE statement SET language = ? WHERE id = ? RETURNING *", language, id)
            else { throw CharterError.notFound("Statement") }
            try await sql.audit(
                actor, .statementLanguage, conversationID: conversationID, statementID: id,
                detail: StatementTranslations.languageAuditDetail(
                    from: before.language, to: language, conversationLanguage: conversation.settings.language))
            return try Statement(after)
        }
    }

    public func setTranslation(
        statementID: Int64, conversationID: Int64, language: String, text: String, by actor: Actor
    ) async throws -> StatementTranslation {
        try await write { sql in
            let (conversation, statement) = try await sql.statementToTranslate(
                id: statementID, conversationID: conversationID)
            let (language, text) = try StatementTranslations.validated(
                language: language, text: text, of: statement, in: conversation)
            let old = try await sql.translation(statementID: statementID, language: language)
            if let old, old.text == text { return old }
            let translation = StatementTranslation(
                statementID: statementID, language: language, text: text, updatedAt: Date())
            try await sql.execute(
                """
                INSERT INTO statement_translation (statement_id, language, text, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (statement_id, language) DO UPDATE SET text = excluded.text,
                    updated_at = excluded.updated_at
                """, statementID, language, text, translation.updatedAt)
            try await sql.audit(
                actor, .statementTranslate, conversationID: conversationID, statementID: statementID,
                detail: StatementTranslations.auditDetail(language: language, text: text, replacing: old?.text))
            return translation
        }
    }

    public func deleteTranslation(statementID: Int64, conversationID: Int64, language: String, by actor: Actor)
        async throws -> Bool
    {
        let language = try LanguageCode.validated(language, field: "language")
        return try await write { sql in
            _ = try await sql.statementToTranslate(id: statementID, conversationID: conversationID)
            guard
                let deleted = try await sql.row(
                    "DELETE FROM statement_translation WHERE statement_id = ? AND language = ? RETURNING text",
                    statementID, language)
            else { return false }
            try await sql.audit(
                actor, .statementTranslationDelete, conversationID: conversationID, statementID: statementID,
                detail: StatementTranslations.deleteAuditDetail(
                    language: language, text: try deleted.at(0, as: String.self)))
            return true
        }
    }

    public func translations(statementID: Int64) async throws -> [StatementTranslation] {
        try await readOne { sql in
            try await sql.rows(
                "SELECT * FROM statement_translation WHERE statement_id = ? ORDER BY language", statementID
            ).map(StatementTranslation.init)
        }
    }

    public func translations(conversationID: Int64) async throws -> [Int64: [StatementTranslation]] {
        try await readOne { sql in
            let translations = try await sql.rows(
                """
                SELECT t.* FROM statement_translation t JOIN statement s ON s.id = t.statement_id
                WHERE s.conversation_id = ? ORDER BY t.statement_id, t.language
                """, conversationID
            ).map(StatementTranslation.init)
            return Dictionary(grouping: translations, by: \.statementID)
        }
    }
}

extension SQLConnection {
    /// The statement, locked for the rest of the transaction, with its conversation.
    fileprivate func statementToTranslate(id: Int64, conversationID: Int64) async throws
        -> (Conversation, Statement)
    {
        guard let conversation = try await conversation(id: conversationID) else {
            throw CharterError.notFound("Conversation")
        }
        guard
            let statement = try await row(
                "SELECT * FROM statement WHERE id = ? AND conversation_id = ? FOR UPDATE", id, conversationID)
        else { throw CharterError.notFound("Statement") }
        return (conversation, try Statement(statement))
    }

    fileprivate func translation(statementID: Int64, language: String) async throws -> StatementTranslation? {
        try await row(
            "SELECT * FROM statement_translation WHERE statement_id = ? AND language = ?", statementID, language
        ).map(StatementTranslation.init)
    }
}

extension StatementTranslation {
    init(_ row: SQLRow) throws {
        self.init(
            statementID: try row("statement_id"), language: try row("language"), text: try row("text"),
            updatedAt: try row("updated_at"))
    }
}
