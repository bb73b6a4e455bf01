import CharterDomain
import CharterStore
import Foundation

/// The JSON shapes of `/api/v1` (snake_case on the wire). They are the API's contract, kept
/// apart from the domain types so that a refactoring never changes what clients receive.
enum API {
    struct ParticipantBody: Encodable {
        let id: Int64
        let xid: String?
    }

    struct ParticipantCreated: Encodable {
        let participant: ParticipantBody
        let token: String
    }

    struct StatementBrief: Encodable {
        let id: Int64
        let text: String
    }

    struct StatementFull: Encodable {
        let id: Int64
        let text: String
        let isSeed: Bool
        let isMeta: Bool
        let moderation: String
        let reason: String?
        let authorId: Int64?
        let createdAt: Date
        /// The language it is written in (its conversation's unless recorded otherwise).
        let language: String
        /// Organisers' translations, by language; only where a listing reads them.
        let translations: [TranslationBody]?

        init(_ s: Statement, in conversation: Conversation, translations: [StatementTranslation]? = nil) {
            id = s.id
            text = s.text
            isSeed = s.isSeed
            isMeta = s.isMeta
            moderation = s.moderation.rawValue
            reason = s.reason
            authorId = s.authorID
            createdAt = s.createdAt
            language = s.language(in: conversation)
            self.translations = translations?.map(TranslationBody.init)
        }
    }

    struct TranslationBody: Encodable {
        let language: String
        let text: String
        let updatedAt: Date

        init(_ t: StatementTranslation) {
            language = t.language
            text = t.text
            updatedAt = t.updatedAt
        }
    }

    struct StatementTranslationsBody: Encodable {
        let statement: Int64
        let language: String
        let translations: [TranslationBody]
    }

    struct TranslationRequest: Decodable {
        let text: String
    }

    /// `{"language": "de"}`, or null for the conversation's language.
    struct StatementLanguageRequest: Decodable {
        let language: String?
    }

    struct ConversationBody: Codable {
        var id: Int64?
        var slug: String
        var title: String
        var question: String
        var description: String
        var state: String
        var closesAt: Date?
        var participantStatementsAllowed: Bool
        var strictModeration: Bool
        var maxStatementLength: Int
        var minVotesBeforeSubmit: Int
        var completionThreshold: Int?
        var completionCode: String?
        var xidPolicy: String
        var language: String
        var resultsPublic: Bool
        /// What signs the conversation's panel links; only for its owners.
        var xidSecret: String?
        var isOpen: Bool?
        var createdAt: Date?

        init(_ c: Conversation, includeCode: Bool) {
            let s = c.settings
            id = c.id
            slug = s.slug
            title = s.title
            question = s.question
            description = s.description
            state = s.state.rawValue
            closesAt = s.closesAt
            participantStatementsAllowed = s.participantStatementsAllowed
            strictModeration = s.strictModeration
            maxStatementLength = s.maxStatementLength
            minVotesBeforeSubmit = s.minVotesBeforeSubmit
            completionThreshold = s.completionThreshold
            // Participants earn the code by voting; only organisers read it here.
            completionCode = includeCode ? s.completionCode : nil
            xidPolicy = s.xidPolicy.rawValue
            language = s.language
            resultsPublic = s.resultsPublic
            xidSecret = nil
            isOpen = c.isOpen(at: Date())
            createdAt = c.createdAt
        }
    }

    struct ConversationWithStatements: Encodable {
        let conversation: ConversationBody
        let statements: [StatementBrief]
    }

    struct NextStatement: Encodable {
        let statement: StatementBrief
        let progress: VotingProgress
    }

    struct VoteRequest: Decodable {
        let statement: Int64
        let vote: String
    }

    struct VoteResult: Encodable {
        let statement: Int64
        let vote: String
        let changedFrom: String?
        let progress: VotingProgress
        let completionCode: String?
    }

    struct StatementRequest: Decodable {
        let text: String
        /// The language it is written in; when absent, the request's `Accept-Language`.
        let language: String?
    }

    struct ParticipantRequest: Decodable {
        let xid: String?
        /// The panel link's signature, under the `signed` policy.
        let sig: String?
    }

    /// Every field optional: creating needs slug, title and question; editing changes only
    /// what is sent.
    struct ConversationPatch: Decodable {
        var slug: String?
        var title: String?
        var question: String?
        var description: String?
        var state: String?
        var closesAt: Date??
        var participantStatementsAllowed: Bool?
        var strictModeration: Bool?
        var maxStatementLength: Int?
        var minVotesBeforeSubmit: Int?
        var completionThreshold: Int??
        var completionCode: String??
        var xidPolicy: String?
        var language: String?
        var resultsPublic: Bool?

        enum CodingKeys: String, CodingKey {
            case slug, title, question, description, state, closesAt, participantStatementsAllowed, strictModeration,
                maxStatementLength, minVotesBeforeSubmit, completionThreshold, completionCode, xidPolicy, language,
                resultsPublic
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            slug = try c.decodeIfPresent(String.self, forKey: .slug)
            title = try c.decodeIfPresent(String.self, forKey: .title)
            question = try c.decodeIfPresent(String.self, forKey: .question)
            description = try c.decodeIfPresent(String.self, forKey: .description)
            state = try c.decodeIfPresent(String.self, forKey: .state)
            // A key sent as null clears the field; a key left out leaves it.
            if c.contains(.closesAt) { closesAt = .some(try c.decodeIfPresent(Date.self, forKey: .closesAt)) }
            participantStatementsAllowed = try c.decodeIfPresent(Bool.self, forKey: .participantStatementsAllowed)
            strictModeration = try c.decodeIfPresent(Bool.self, forKey: .strictModeration)
            maxStatementLength = try c.decodeIfPresent(Int.self, forKey: .maxStatementLength)
            minVotesBeforeSubmit = try c.decodeIfPresent(Int.self, forKey: .minVotesBeforeSubmit)
            if c.contains(.completionThreshold) {
                completionThreshold = .some(try c.decodeIfPresent(Int.self, forKey: .completionThreshold))
            }
            if c.contains(.completionCode) {
                completionCode = .some(try c.decodeIfPresent(String.self, forKey: .completionCode))
            }
            xidPolicy = try c.decodeIfPresent(String.self, forKey: .xidPolicy)
            language = try c.decodeIfPresent(String.self, forKey: .language)
            resultsPublic = try c.decodeIfPresent(Bool.self, forKey: .resultsPublic)
        }

        func applied(to base: ConversationSettings) throws -> ConversationSettings {
            var s = base
            if let slug { s.slug = slug }
            if let title { s.title = title }
            if let question { s.question = question }
            if let description { s.description = description }
            if let state {
                guard let parsed = ConversationState(rawValue: state) else {
                    throw CharterError.invalid(field: "state", message: "state must be 'open' or 'closed'")
                }
                s.state = parsed
            }
            if let closesAt { s.closesAt = closesAt }
            if let participantStatementsAllowed { s.participantStatementsAllowed = participantStatementsAllowed }
            if let strictModeration { s.strictModeration = strictModeration }
            if let maxStatementLength { s.maxStatementLength = maxStatementLength }
            if let minVotesBeforeSubmit { s.minVotesBeforeSubmit = minVotesBeforeSubmit }
            if let completionThreshold { s.completionThreshold = completionThreshold }
            if let completionCode { s.completionCode = completionCode }
            if let language { s.language = language }
            if let resultsPublic { s.resultsPublic = resultsPublic }
            if let xidPolicy {
                guard let parsed = XIDPolicy(rawValue: xidPolicy) else {
                    throw CharterError.invalid(
                        field: "xid_policy", message: "xid_policy must be open, bound, signed or allow-list")
                }
                s.xidPolicy = parsed
            }
            return s
        }

        func creating() throws -> ConversationSettings {
            guard let slug, let title, let question else {
                throw CharterError.invalid(
                    field: "conversation", message: "A new conversation needs slug, title and question.")
            }
            return try applied(to: ConversationSettings(slug: slug, title: title, question: question))
        }
    }

    struct SeedRequest: Decodable {
        let statements: [String]
        /// The language they are written in; when absent, the conversation's.
        let language: String?
    }

    struct SeedResponse: Encodable {
        struct Skipped: Encodable {
            let text: String
            let code: String
            let message: String
        }
        let added: [StatementFull]
        let skipped: [Skipped]

        init(_ result: SeedResult, in conversation: Conversation) {
            added = result.added.map { StatementFull($0, in: conversation) }
            skipped = result.skipped.map { Skipped(text: $0.text, code: $0.error.code, message: $0.error.message) }
        }
    }

    struct ModerationRequest: Decodable {
        let statements: [Int64]
        let action: String
        let reason: String?
    }

    struct PageBody<Item: Encodable>: Encodable {
        let items: [Item]
        let total: Int
        let offset: Int
        let limit: Int
    }

    struct AuditBody: Encodable {
        let id: Int64
        let actor: String
        let action: String
        let conversationId: Int64?
        let statementId: Int64?
        let detail: String
        let createdAt: Date

        init(_ e: AuditEntry) {
            id = e.id
            actor = e.actor
            action = e.action
            conversationId = e.conversationID
            statementId = e.statementID
            detail = e.detail
            createdAt = e.createdAt
        }
    }
}

extension ModerationAction {
    /// Parses the action names shared by the API and the moderation form.
    init(name: String, reason: String?) throws {
        switch name {
        case "accept": self = .accept
        case "reject": self = .reject(reason: reason ?? "")
        case "meta": self = .markMeta(true)
        case "unmeta": self = .markMeta(false)
        default:
            throw CharterError.invalid(field: "action", message: "action must be accept, reject, meta or unmeta")
        }
    }
}
