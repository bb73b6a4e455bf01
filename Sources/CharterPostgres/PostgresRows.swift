import CharterDomain
import CharterStore
import Foundation

// Records from rows, by column name (the columns are SQLite's, see `PostgresSchema`).

extension Conversation {
    init(_ row: SQLRow) throws {
        self.init(
            id: try row("id"),
            settings: ConversationSettings(
                slug: try row("slug"),
                title: try row("title"),
                question: try row("question"),
                description: try row("description"),
                state: ConversationState(rawValue: try row("state")) ?? .closed,
                closesAt: try row("closes_at"),
                participantStatementsAllowed: try row("participant_statements_allowed"),
                strictModeration: try row("strict_moderation"),
                maxStatementLength: try row("max_statement_length"),
                minVotesBeforeSubmit: try row("min_votes_before_submit"),
                completionThreshold: try row("completion_threshold"),
                completionCode: try row("completion_code"),
                xidPolicy: XIDPolicy(rawValue: try row("xid_policy")) ?? .bound,
                language: try row("language"),
                resultsPublic: try row("results_public")
            ),
            createdAt: try row("created_at")
        )
    }
}

extension ConversationSettings {
    /// Column values in the order of `columnNames`.
    var columnValues: [any SQLBindable] {
        [
            slug, title, question, description, state.rawValue, closesAt, participantStatementsAllowed,
            strictModeration, maxStatementLength, minVotesBeforeSubmit, completionThreshold, completionCode,
            xidPolicy.rawValue, language, resultsPublic,
        ]
    }

    static let columnNames = [
        "slug", "title", "question", "description", "state", "closes_at", "participant_statements_allowed",
        "strict_moderation", "max_statement_length", "min_votes_before_submit", "completion_threshold",
        "completion_code", "xid_policy", "language", "results_public",
    ]
}

extension Statement {
    init(_ row: SQLRow) throws {
        self.init(
            id: try row("id"),
            conversationID: try row("conversation_id"),
            authorID: try row("author_id"),
            text: try row("text"),
            isSeed: try row("is_seed"),
            isMeta: try row("is_meta"),
            moderation: ModerationState(rawValue: try row("moderation")) ?? .pending,
            reason: try row("reason"),
            createdAt: try row("created_at"),
            originalText: try row("original_text"),
            rewordedFrom: try row("reworded_from"),
            language: try row("language")
        )
    }
}

extension Participant {
    init(_ row: SQLRow) throws {
        self.init(
            id: try row("id"), conversationID: try row("conversation_id"), xid: try row("xid"),
            createdAt: try row("created_at"))
    }
}

extension Vote {
    init(_ row: SQLRow) throws {
        self.init(
            participantID: try row("participant_id"),
            statementID: try row("statement_id"),
            value: VoteValue(rawValue: Int(try row("value", as: Int16.self))) ?? .pass,
            createdAt: try row("created_at")
        )
    }
}

extension Organiser {
    init(_ row: SQLRow) throws {
        self.init(
            id: try row("id"), email: try row("email"), createdAt: try row("created_at"), isAdmin: try row("is_admin"))
    }
}

extension AuditEntry {
    init(_ row: SQLRow) throws {
        self.init(
            id: try row("id"),
            organiserID: try row("organiser_id"),
            actor: try row("actor"),
            action: try row("action"),
            conversationID: try row("conversation_id"),
            statementID: try row("statement_id"),
            detail: try row("detail"),
            createdAt: try row("created_at")
        )
    }
}
