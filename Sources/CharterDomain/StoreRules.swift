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
    case conversationDemographics
    case participantRelease
    case statementSeed, statementAccept, statementReject, statementMeta, statementUnmeta
    case statementReword, statementRewordedCopy
    case statementLanguage, statementTranslate, statementTranslationDelete
    case principleReword, principleRewordReset, principleGroup
    case constitutionPublish
    case runCreate
    case runState(RunState)
    case organiserCreate, organiserAdmin, tokenCreate

    public static var allCases: [AuditAction] {
        [
            .conversationCreate, .conversationEdit, .conversationImport, .conversationAllowList, .conversationMember,
            .conversationDemographics, .participantRelease, .statementSeed, .statementAccept, .statementReject,
            .statementMeta, .statementUnmeta,
            .statementReword, .statementRewordedCopy, .statementLanguage, .statementTranslate,
            .statementTranslationDelete, .principleReword, .principleRewordReset, .principleGroup,
            .constitutionPublish, .runCreate,
        ] + RunState.allCases.map(AuditAction.runState) + [.organiserCreate, .organiserAdmin, .tokenCreate]
    }

    public var rawValue: String {
        switch self {
        case .conversationCreate: "conversation.create"
        case .conversationEdit: "conversation.edit"
        case .conversationImport: "conversation.import"
        case .conversationAllowList: "conversation.allow-list"
        case .conversationMember: "conversation.member"
        case .conversationDemographics: "conversation.demographics"
        case .participantRelease: "participant.release"
        case .statementSeed: "statement.seed"
        case .statementAccept: "statement.accept"
        case .statementReject: "statement.reject"
        case .statementMeta: "statement.meta"
        case .statementUnmeta: "statement.unmeta"
        case .statementReword: "statement.reword"
        case .statementRewordedCopy: "statement.reworded-copy"
        case .statementLanguage: "statement.language"
        case .statementTranslate: "statement.translate"
        case .statementTranslationDelete: "statement.translation.delete"
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

/// How a Polis export becomes Charter rows, the same on every back end: the back end looks up
/// what an earlier import already stored and writes what this says.
public enum PolisImportMapping {
    /// Every person the export mentions (listed participants, authors, voters), by Polis id,
    /// with the xid the export gives them.
    public static func people(in export: PolisExport) -> [(source: Int64, xid: String?)] {
        var xidOf: [Int64: String] = [:]
        for participant in export.participants { if let xid = participant.xid { xidOf[participant.id] = xid } }
        let ids = Set(export.participants.map(\.id)).union(export.comments.compactMap(\.authorID))
            .union(export.votes.map(\.participant))
        return ids.sorted().map { ($0, xidOf[$0]) }
    }

    /// A person without an xid is known by this anonymous id, so a second import finds them.
    public static func anonymousID(source: Int64) -> String { "polis:\(source)" }

    /// The comments to store, by id: the export's own, and a placeholder for a comment that
    /// votes name but comments.csv lacks, so no vote is dropped.
    public static func comments(in export: PolisExport) -> [PolisExport.Comment] {
        var comments = export.comments
        let known = Set(comments.map(\.id))
        for id in Set(export.votes.map(\.comment)).subtracting(known).sorted() {
            comments.append(
                .init(
                    id: id, authorID: nil, text: "(comment \(id))", moderated: 0, isMeta: false, isSeed: false,
                    groupInformedConsensus: nil, timestamp: nil))
        }
        return comments.sorted { $0.id < $1.id }
    }

    /// Polis' `moderated`: 1 accepted, -1 rejected, 0 not yet.
    public static func moderation(of comment: PolisExport.Comment) -> ModerationState {
        comment.moderated > 0 ? .accepted : comment.moderated < 0 ? .rejected : .pending
    }

    /// Polis writes milliseconds since 1970; a comment without a time gets the import's.
    public static func createdAt(of comment: PolisExport.Comment, importedAt now: Date) -> Date {
        comment.timestamp.map { Date(timeIntervalSince1970: Double($0) / 1000) } ?? now
    }

    /// The duplicate key to store: Polis keeps exact duplicates apart, so a text that is already
    /// taken gets the comment id appended, which no participant can type.
    public static func duplicateKey(of comment: PolisExport.Comment, taken: Bool) -> String {
        let key = StatementText.duplicateKey(comment.text)
        return taken ? key + "\u{1}#\(comment.id)" : key
    }
}
