public import Foundation

// The rules a store enforces when it writes. Every back end reads the state they need inside
// its own transaction and asks these functions, so SQLite and PostgreSQL decide alike; the
// back end owns only the reading, the writing and the atomicity.

/// The rules of a vote, in the order a refused vote learns of them.
public enum VoteRules {
    /// Whether the statement can take the vote now. `addressedSlug` is the slug the client used,
    /// when it came through one: a conversation renamed since is not found under the old name.
    /// `shown` is `conversation.shows(statement)`; `exists` whether the conversation has the
    /// statement at all.
    public static func checkTarget(
        conversation: Conversation, addressedSlug: String?, statementExists exists: Bool, shown: Bool, at now: Date
    ) throws(CharterError) {
        if let addressedSlug, addressedSlug != conversation.slug { throw .notFound("Conversation") }
        guard exists || shown else { throw .notFound("Statement") }
        guard conversation.isOpen(at: now) else { throw .conversationClosed }
        guard shown else { throw .statementNotVotable }
    }

    /// What the vote does, given the participant's current vote on the statement (`previous`)
    /// and the statement of their latest vote: a participant may change only the vote they cast
    /// last, and casting the same vote again is a mistake, not a change.
    public static func outcome(
        of value: VoteValue, on statementID: Int64, previous: VoteValue?, latestVotedStatementID: Int64?
    ) throws(CharterError) -> VoteOutcome {
        guard let previous else { return .recorded }
        guard previous != value else { throw .duplicateVote }
        guard latestVotedStatementID == statementID else { throw .voteNotChangeable }
        return .changed(from: previous)
    }
}

/// When a participant is voting faster than a person can read: `votes` votes each within
/// `interval` seconds of the one before flag them for organisers.
public struct FastVoting: Sendable, Equatable {
    public var interval: Double
    public var votes: Int

    public init(interval: Double = 0.5, votes: Int = 10) {
        self.interval = interval
        self.votes = votes
    }

    /// Whether a vote at `now` came too soon after the participant's previous one.
    public func isFast(previousVoteAt previous: Date?, now: Date) -> Bool {
        guard let previous else { return false }
        return now.timeIntervalSince(previous) < interval
    }

    /// Whether the participant, with `fastVotes` fast votes counted including this one, is now
    /// to be flagged.
    public func flags(afterFastVotes fastVotes: Int) -> Bool { fastVotes >= votes }
}

/// The rules for a participant's own statement.
public enum SubmissionRules {
    /// Whether the conversation takes participants' statements now.
    public static func checkConversation(_ conversation: Conversation, at now: Date) throws(CharterError) {
        guard conversation.isOpen(at: now) else { throw .conversationClosed }
        guard conversation.settings.participantStatementsAllowed else { throw .statementsNotAllowed }
    }

    /// The text to store, once the author has cast `votesCast` votes in the conversation.
    /// Duplicates are the back end's to find (a UNIQUE key on `StatementText.duplicateKey`).
    public static func validatedText(_ text: String, in conversation: Conversation, votesCast: Int)
        throws(CharterError) -> String
    {
        let needed = conversation.settings.minVotesBeforeSubmit
        guard votesCast >= needed else { throw .notEnoughVotesToSubmit(needed: needed) }
        return try StatementText.validated(text, maxLength: conversation.settings.maxStatementLength)
    }
}

/// What the audit log records an actor doing. The log stores the raw value; an entry read back
/// keeps whatever text it was written with.
public enum AuditAction: Sendable, Hashable, CaseIterable {
    case conversationCreate, conversationEdit, conversationImport, conversationAllowList, conversationMember
    case participantRelease
    case statementSeed, statementAccept, statementReject, statementMeta, statementUnmeta
    case principleReword, principleRewordReset, principleGroup
    case constitutionPublish
    case runCreate
    case runState(RunState)
    case organiserCreate, organiserAdmin, tokenCreate

    public static var allCases: [AuditAction] {
        [
            .conversationCreate, .conversationEdit, .conversationImport, .conversationAllowList, .conversationMember,
            .participantRelease, .statementSeed, .statementAccept, .statementReject, .statementMeta, .statementUnmeta,
            .principleReword, .principleRewordReset, .principleGroup, .constitutionPublish, .runCreate,
        ] + RunState.allCases.map(AuditAction.runState) + [.organiserCreate, .organiserAdmin, .tokenCreate]
    }

    public var rawValue: String {
        switch self {
        case .conversationCreate: "conversation.create"
        case .conversationEdit: "conversation.edit"
        case .conversationImport: "conversation.import"
        case .conversationAllowList: "conversation.allow-list"
        case .conversationMember: "conversation.member"
        case .participantRelease: "participant.release"
        case .statementSeed: "statement.seed"
        case .statementAccept: "statement.accept"
        case .statementReject: "statement.reject"
        case .statementMeta: "statement.meta"
        case .statementUnmeta: "statement.unmeta"
        case .principleReword: "principle.reword"
        case .principleRewordReset: "principle.reword.reset"
        case .principleGroup: "principle.group"
        case .constitutionPublish: "constitution.publish"
        case .runCreate: "run.create"
        case .runState(let state): "run.\(state.rawValue)"
        case .organiserCreate: "organiser.create"
        case .organiserAdmin: "organiser.admin"
        case .tokenCreate: "token.create"
        }
    }

    public init?(rawValue: String) {
        guard let match = Self.allCases.first(where: { $0.rawValue == rawValue }) else { return nil }
        self = match
    }
}
