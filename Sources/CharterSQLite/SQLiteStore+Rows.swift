import CharterDomain
import Foundation
import GRDB

extension Conversation {
    init(row: Row) {
        self.init(
            id: row["id"],
            settings: ConversationSettings(
                slug: row["slug"],
                title: row["title"],
                question: row["question"],
                description: row["description"],
                state: ConversationState(rawValue: row["state"]) ?? .closed,
                closesAt: row["closes_at"],
                participantStatementsAllowed: row["participant_statements_allowed"],
                strictModeration: row["strict_moderation"],
                maxStatementLength: row["max_statement_length"],
                minVotesBeforeSubmit: row["min_votes_before_submit"],
                completionThreshold: row["completion_threshold"],
                completionCode: row["completion_code"],
                xidPolicy: XIDPolicy(rawValue: row["xid_policy"] ?? "") ?? .bound,
                language: row["language"] ?? "en",
                resultsPublic: row["results_public"] ?? false
            ),
            createdAt: row["created_at"]
        )
    }
}

extension ConversationSettings {
    /// Column values in the order of `columnList`.
    var columnValues: [(any DatabaseValueConvertible)?] {
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
    init(row: Row) {
        self.init(
            id: row["id"],
            conversationID: row["conversation_id"],
            authorID: row["author_id"],
            text: row["text"],
            isSeed: row["is_seed"],
            isMeta: row["is_meta"],
            moderation: ModerationState(rawValue: row["moderation"]) ?? .pending,
            reason: row["reason"],
            createdAt: row["created_at"],
            originalText: row["original_text"],
            rewordedFrom: row["reworded_from"],
            language: row["language"]
        )
    }
}

extension Participant {
    init(row: Row) {
        self.init(id: row["id"], conversationID: row["conversation_id"], xid: row["xid"], createdAt: row["created_at"])
    }
}

extension Vote {
    init(row: Row) {
        self.init(
            participantID: row["participant_id"],
            statementID: row["statement_id"],
            value: VoteValue(rawValue: row["value"]) ?? .pass,
            createdAt: row["created_at"]
        )
    }
}

extension Organiser {
    init(row: Row) {
        self.init(id: row["id"], email: row["email"], createdAt: row["created_at"], isAdmin: row["is_admin"] ?? false)
    }
}

extension AuditEntry {
    init(row: Row) {
        self.init(
            id: row["id"],
            organiserID: row["organiser_id"],
            actor: row["actor"],
            action: row["action"],
            conversationID: row["conversation_id"],
            statementID: row["statement_id"],
            detail: row["detail"],
            createdAt: row["created_at"]
        )
    }
}

/// GRDB has a `Statement` of its own (a prepared SQL statement); in this module the word means
/// a participant's statement.
typealias Statement = CharterDomain.Statement
