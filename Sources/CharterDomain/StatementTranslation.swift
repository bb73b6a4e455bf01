public import Foundation

/// An organiser's translation of a statement into another language. Votes are cast on the
/// statement itself, whichever wording a participant read; the constitution's wording rules work
/// on the original.
public struct StatementTranslation: Sendable, Codable, Equatable {
    public var statementID: Int64
    /// A lower-case BCP 47 tag (`LanguageCode`), never the statement's own language.
    public var language: String
    public var text: String
    public var updatedAt: Date

    public init(statementID: Int64, language: String, text: String, updatedAt: Date) {
        self.statementID = statementID
        self.language = language
        self.text = text
        self.updatedAt = updatedAt
    }
}

extension Statement {
    /// The language the statement is written in: its own, else its conversation's.
    public func language(in conversation: Conversation) -> String {
        language ?? conversation.settings.language
    }
}

/// The rules a statement's language and its translations meet, on every back end.
public enum StatementTranslations {
    /// The language and text to store for a translation of `statement`: the language a tag, not
    /// the statement's own; the text checked as a statement's is.
    public static func validated(
        language raw: String, text: String, of statement: Statement, in conversation: Conversation
    ) throws(CharterError) -> (language: String, text: String) {
        let language = try LanguageCode.validated(raw, field: "language")
        let own = statement.language(in: conversation)
        guard language != own else {
            throw .invalid(
                field: "language",
                message: "Statement #\(statement.id) is written in \(own); a translation must be into another language."
            )
        }
        return (language, try StatementText.validated(text, maxLength: conversation.settings.maxStatementLength))
    }

    /// The language to record for a statement (nil: its conversation's), validated; refused when
    /// the statement already has a translation into it (delete that first).
    public static func validatedLanguage(
        _ raw: String?, of statement: Statement, in conversation: Conversation, translated: Set<String>
    ) throws(CharterError) -> String? {
        let language: String?
        if let raw, !raw.trimmingCharacters(in: .whitespaces).isEmpty {
            language = try LanguageCode.validated(raw, field: "language")
        } else {
            language = nil
        }
        let effective = language ?? conversation.settings.language
        guard !translated.contains(effective) else {
            throw .conflict(
                "Statement #\(statement.id) has a translation into \(effective); delete it before marking the statement as written in \(effective)."
            )
        }
        return language
    }

    /// The audit entry of a statement's new language.
    public static func languageAuditDetail(from old: String?, to new: String?, conversationLanguage: String) -> String {
        func name(_ code: String?) -> String { code ?? "the conversation's (\(conversationLanguage))" }
        return "language \(name(old)) → \(name(new))"
    }

    /// The audit entry of a translation added or replaced.
    public static func auditDetail(language: String, text: String, replacing old: String?) -> String {
        if let old { return "translation into \(language) changed from “\(old)” to “\(text)”" }
        return "translation into \(language): “\(text)”"
    }

    /// The audit entry of a translation deleted.
    public static func deleteAuditDetail(language: String, text: String) -> String {
        "translation into \(language) deleted: “\(text)”"
    }
}
