public import Foundation

/// Whether a conversation takes votes and statements.
public enum ConversationState: String, Sendable, Codable, CaseIterable {
    case open
    case closed
}

/// Who may take part under a panel's external id (`xid`), and how an xid is tied to a person.
public enum XIDPolicy: String, Sendable, Codable, CaseIterable {
    /// Anyone may use any xid: for anonymous public conversations, where an xid is a label.
    case open
    /// The first browser (or API registration) to use an xid binds it; the same xid elsewhere is
    /// refused until an organiser releases it. Works with panels that only insert their own id
    /// into a link (Prolific's `{{%PROLIFIC_PID%}}`) and makes a hijacked id visible.
    case bound
    /// A join link carries the xid and `sig`, the HMAC of the xid under the conversation's xid
    /// secret: for invitations the organiser sends. First use also binds.
    case signed
    /// Only xids the organiser uploaded may join. First use also binds.
    case allowList = "allow-list"

    /// Whether an xid belongs to the first browser or registration that used it.
    public var binds: Bool { self != .open }
}

/// Everything an organiser sets on a conversation: the fields of `conversation` in design.md
/// other than its identity and creation time. Creating and editing both take one of these, so
/// the two can never drift apart in what they validate.
public struct ConversationSettings: Sendable, Codable, Equatable {
    public var slug: String
    public var title: String
    public var question: String
    public var description: String
    public var state: ConversationState
    public var closesAt: Date?
    public var participantStatementsAllowed: Bool
    public var strictModeration: Bool
    public var maxStatementLength: Int
    public var minVotesBeforeSubmit: Int
    public var completionThreshold: Int?
    public var completionCode: String?
    public var xidPolicy: XIDPolicy
    /// The language participants see when neither they nor their browser ask for one it has,
    /// and the language its statements are taken to be in unless told otherwise.
    public var language: String
    /// Whether anyone may read the results page (`/c/{slug}/results`); a participant who has
    /// voted on every statement may read it either way.
    public var resultsPublic: Bool

    public static let defaultMaxStatementLength = 140

    public init(
        slug: String,
        title: String,
        question: String,
        description: String = "",
        state: ConversationState = .open,
        closesAt: Date? = nil,
        participantStatementsAllowed: Bool = true,
        strictModeration: Bool = false,
        maxStatementLength: Int = ConversationSettings.defaultMaxStatementLength,
        minVotesBeforeSubmit: Int = 0,
        completionThreshold: Int? = nil,
        completionCode: String? = nil,
        xidPolicy: XIDPolicy = .bound,
        language: String = LanguageCode.default,
        resultsPublic: Bool = false
    ) {
        self.slug = slug
        self.title = title
        self.question = question
        self.description = description
        self.state = state
        self.closesAt = closesAt
        self.participantStatementsAllowed = participantStatementsAllowed
        self.strictModeration = strictModeration
        self.maxStatementLength = maxStatementLength
        self.minVotesBeforeSubmit = minVotesBeforeSubmit
        self.completionThreshold = completionThreshold
        self.completionCode = completionCode
        self.xidPolicy = xidPolicy
        self.language = language
        self.resultsPublic = resultsPublic
    }

    enum CodingKeys: String, CodingKey {
        case slug, title, question, description, state, closesAt, participantStatementsAllowed, strictModeration
        case maxStatementLength, minVotesBeforeSubmit, completionThreshold, completionCode, xidPolicy, language
        case resultsPublic
    }

    /// Settings files written before a field existed still decode, with its default.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            slug: try c.decode(String.self, forKey: .slug), title: try c.decode(String.self, forKey: .title),
            question: try c.decode(String.self, forKey: .question),
            description: try c.decodeIfPresent(String.self, forKey: .description) ?? "",
            state: try c.decodeIfPresent(ConversationState.self, forKey: .state) ?? .open,
            closesAt: try c.decodeIfPresent(Date.self, forKey: .closesAt),
            participantStatementsAllowed: try c.decodeIfPresent(Bool.self, forKey: .participantStatementsAllowed)
                ?? true,
            strictModeration: try c.decodeIfPresent(Bool.self, forKey: .strictModeration) ?? false,
            maxStatementLength: try c.decodeIfPresent(Int.self, forKey: .maxStatementLength)
                ?? Self.defaultMaxStatementLength,
            minVotesBeforeSubmit: try c.decodeIfPresent(Int.self, forKey: .minVotesBeforeSubmit) ?? 0,
            completionThreshold: try c.decodeIfPresent(Int.self, forKey: .completionThreshold),
            completionCode: try c.decodeIfPresent(String.self, forKey: .completionCode),
            xidPolicy: try c.decodeIfPresent(XIDPolicy.self, forKey: .xidPolicy) ?? .bound,
            language: try c.decodeIfPresent(String.self, forKey: .language) ?? LanguageCode.default,
            resultsPublic: try c.decodeIfPresent(Bool.self, forKey: .resultsPublic) ?? false)
    }

    /// Trims what should be trimmed and rejects what no conversation may hold.
    public func validated() throws(CharterError) -> ConversationSettings {
        var s = self
        s.slug = slug.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        s.title = title.trimmingCharacters(in: .whitespacesAndNewlines)
        s.question = question.trimmingCharacters(in: .whitespacesAndNewlines)
        s.description = description.trimmingCharacters(in: .whitespacesAndNewlines)
        s.completionCode = completionCode?.trimmingCharacters(in: .whitespacesAndNewlines)
        if s.completionCode?.isEmpty == true { s.completionCode = nil }
        s.language = try LanguageCode.validated(language, field: "language")

        guard Slug.isValid(s.slug) else {
            throw .invalid(
                field: "slug",
                message:
                    "slug must be 1–64 characters of lowercase letters, digits and hyphens, starting with a letter or digit"
            )
        }
        guard !s.title.isEmpty, TextLength.fits(s.title, characters: 200) else {
            throw .invalid(field: "title", message: "title must be 1–200 characters")
        }
        guard !s.question.isEmpty, TextLength.fits(s.question, characters: 1000) else {
            throw .invalid(field: "question", message: "question must be 1–1000 characters")
        }
        guard TextLength.fits(s.description, characters: 10_000) else {
            throw .invalid(field: "description", message: "description must be at most 10000 characters")
        }
        for (field, value, allowed) in [
            ("title", s.title, Set<Unicode.Scalar>()), ("question", s.question, ["\n", "\r", "\t"]),
            ("description", s.description, ["\n", "\r", "\t"]), ("completion_code", s.completionCode ?? "", []),
        ] where ControlCharacters.present(in: value, allowing: allowed) {
            throw .invalid(field: field, message: "\(field) contains control characters")
        }
        guard (1...2000).contains(s.maxStatementLength) else {
            throw .invalid(field: "max_statement_length", message: "max_statement_length must be 1–2000")
        }
        guard (0...100_000).contains(s.minVotesBeforeSubmit) else {
            throw .invalid(field: "min_votes_before_submit", message: "min_votes_before_submit must be 0–100000")
        }
        if let threshold = s.completionThreshold {
            guard (1...100_000).contains(threshold) else {
                throw .invalid(field: "completion_threshold", message: "completion_threshold must be 1–100000")
            }
            guard let code = s.completionCode, TextLength.fits(code, characters: 100) else {
                throw .invalid(
                    field: "completion_code",
                    message: "a completion threshold needs a completion code of 1–100 characters")
            }
        } else if let code = s.completionCode, !TextLength.fits(code, characters: 100) {
            throw .invalid(field: "completion_code", message: "completion_code must be at most 100 characters")
        }
        return s
    }
}

public struct Conversation: Sendable, Codable, Equatable, Identifiable {
    public var id: Int64
    public var settings: ConversationSettings
    public var createdAt: Date

    public init(id: Int64, settings: ConversationSettings, createdAt: Date) {
        self.id = id
        self.settings = settings
        self.createdAt = createdAt
    }

    public var slug: String { settings.slug }

    /// A conversation is closed by its state or once its closing time has passed.
    public func isOpen(at now: Date) -> Bool {
        guard settings.state == .open else { return false }
        if let closesAt = settings.closesAt, closesAt <= now { return false }
        return true
    }

    /// Under strict moderation a statement is shown only once accepted; otherwise everything
    /// not rejected is shown. Meta statements are never voted on.
    public func shows(_ statement: Statement) -> Bool {
        guard !statement.isMeta else { return false }
        switch statement.moderation {
        case .accepted: return true
        case .pending: return !settings.strictModeration
        case .rejected: return false
        }
    }
}

public enum Slug {
    /// A valid slug made from any name: "vtaiwan.uberx" → "vtaiwan-uberx".
    public static func derived(from name: String) -> String {
        let mapped = name.lowercased().map { c -> Character in
            (c.isASCII && (c.isLetter || c.isNumber)) ? c : "-"
        }
        let words = String(mapped).split(separator: "-", omittingEmptySubsequences: true)
        var slug = ""
        for word in words where slug.count + word.count + 1 <= 64 {
            slug += slug.isEmpty ? String(word) : "-" + word
        }
        return slug.isEmpty ? "conversation" : slug
    }

    public static func isValid(_ slug: String) -> Bool {
        guard (1...64).contains(slug.count), let first = slug.unicodeScalars.first else { return false }
        let allowed: (Unicode.Scalar) -> Bool = { c in
            ("a"..."z").contains(c) || ("0"..."9").contains(c) || c == "-"
        }
        return first != "-" && slug.unicodeScalars.allSatisfy(allowed)
    }
}
