public import CharterDomain
public import Foundation

/// The storage cannot take writes now (a full disk, a read-only file, an I/O error). Nothing of
/// the failed operation was written; the same request can be sent again later.
public struct StorageUnavailable: Error, Sendable, Equatable {
    public var reason: String

    public init(reason: String) {
        self.reason = reason
    }
}

/// Who an action is recorded against in the audit log.
public struct Actor: Sendable, Equatable {
    public var organiserID: Int64?
    public var name: String

    public init(organiserID: Int64?, name: String) {
        self.organiserID = organiserID
        self.name = name
    }

    public init(_ organiser: Organiser) {
        self.init(organiserID: organiser.id, name: organiser.email)
    }

    /// The operator at the command line (seeding, admin commands).
    public static let system = Actor(organiserID: nil, name: "system")
}

public struct StatementFilter: Sendable, Equatable {
    public var moderation: ModerationState?
    public var isMeta: Bool?
    public var isSeed: Bool?
    /// Case-insensitive substring of the text.
    public var search: String?
    public var offset: Int
    public var limit: Int

    public init(
        moderation: ModerationState? = nil, isMeta: Bool? = nil, isSeed: Bool? = nil, search: String? = nil,
        offset: Int = 0, limit: Int = 50
    ) {
        self.moderation = moderation
        self.isMeta = isMeta
        self.isSeed = isSeed
        self.search = search
        self.offset = offset
        self.limit = limit
    }
}

public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var total: Int
    public var offset: Int
    public var limit: Int

    public init(items: [Item], total: Int, offset: Int, limit: Int) {
        self.items = items
        self.total = total
        self.offset = offset
        self.limit = limit
    }
}

extension Page: Equatable where Item: Equatable {}

/// The result of adding seed statements in bulk: what was added, and each line that was not,
/// with the reason.
public struct SeedResult: Sendable, Equatable {
    public var added: [Statement]
    public var skipped: [(text: String, error: CharterError)]

    public init(added: [Statement], skipped: [(text: String, error: CharterError)]) {
        self.added = added
        self.skipped = skipped
    }

    public static func == (lhs: SeedResult, rhs: SeedResult) -> Bool {
        lhs.added == rhs.added && lhs.skipped.map(\.text) == rhs.skipped.map(\.text)
            && lhs.skipped.map(\.error) == rhs.skipped.map(\.error)
    }
}

public struct VoteReceipt: Sendable, Equatable {
    /// The conversation as the vote saw it.
    public var conversation: Conversation
    public var participant: Participant
    public var vote: Vote
    public var outcome: VoteOutcome
    public var progress: VotingProgress

    public init(
        conversation: Conversation, participant: Participant, vote: Vote, outcome: VoteOutcome,
        progress: VotingProgress
    ) {
        self.conversation = conversation
        self.participant = participant
        self.vote = vote
        self.outcome = outcome
        self.progress = progress
    }
}

/// A participant whose votes came faster than a person can read them.
public struct FlaggedParticipant: Sendable, Equatable {
    public var participant: Participant
    /// Votes cast within the fast-voting interval of the one before.
    public var fastVotes: Int
    public var votes: Int
    public var flaggedAt: Date

    public init(participant: Participant, fastVotes: Int, votes: Int, flaggedAt: Date) {
        self.participant = participant
        self.fastVotes = fastVotes
        self.votes = votes
        self.flaggedAt = flaggedAt
    }
}

/// Counters for `/metrics` and `/healthz`.
public struct StoreCounts: Sendable, Equatable {
    public var conversations: Int
    public var participants: Int
    public var statements: Int
    public var votes: Int

    public init(conversations: Int, participants: Int, statements: Int, votes: Int) {
        self.conversations = conversations
        self.participants = participants
        self.statements = statements
        self.votes = votes
    }
}

/// A stored analysis of a conversation: the result as the analysis library encoded it, and
/// what it was computed from.
public struct StoredAnalysis: Sendable, Equatable {
    public var conversationID: Int64
    public var computedAt: Date
    public var voteCount: Int
    /// The newest vote event the analysis saw; a newer one means it is out of date.
    public var lastVoteEvent: Int64
    public var durationMs: Double
    public var parameters: String
    public var result: Data
    /// The number of opinion groups the result found; a store counts how long it holds
    /// (`groupCountHistory`). Nil leaves that history alone.
    public var groupCount: Int?
    /// Each statement's scores in this analysis, kept per hour as the statement's history
    /// (`statementScoreHistory`); empty leaves that history alone.
    public var statementScores: [StatementScore]

    public init(
        conversationID: Int64, computedAt: Date, voteCount: Int, lastVoteEvent: Int64, durationMs: Double,
        parameters: String, result: Data, groupCount: Int? = nil, statementScores: [StatementScore] = []
    ) {
        self.conversationID = conversationID
        self.computedAt = computedAt
        self.voteCount = voteCount
        self.lastVoteEvent = lastVoteEvent
        self.durationMs = durationMs
        self.parameters = parameters
        self.result = result
        self.groupCount = groupCount
        self.statementScores = statementScores
    }
}

/// A statement's standing in one analysis.
public struct StatementScore: Sendable, Equatable {
    public var statementID: Int64
    public var gac: Double
    /// The CCAI selection score: the product of the groups' agree shares.
    public var ccai: Double
    public var votes: Int

    public init(statementID: Int64, gac: Double, ccai: Double, votes: Int) {
        self.statementID = statementID
        self.gac = gac
        self.ccai = ccai
        self.votes = votes
    }

    /// The hour an analysis at `date` is kept under: the last analysis of each hour stands
    /// for it, so the history grows by hours, not by analyses.
    public static func hour(of date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 3600).rounded(.down) * 3600)
    }
}

/// A statement's scores as the last analysis of one hour found them.
public struct StatementScorePoint: Sendable, Equatable {
    public var hour: Date
    public var gac: Double
    public var ccai: Double
    public var votes: Int

    public init(hour: Date, gac: Double, ccai: Double, votes: Int) {
        self.hour = hour
        self.gac = gac
        self.ccai = ccai
        self.votes = votes
    }
}

/// Everything the analysis needs of a conversation, read in one consistent snapshot.
public struct AnalysisSnapshot: Sendable {
    public var participants: [Int64]
    public var statements: [Int64]
    public var values: [Int8]
    /// Rejected statements.
    public var rejected: Set<Int64>
    public var meta: Set<Int64>
    public var lastVoteEvent: Int64

    public init(
        participants: [Int64], statements: [Int64], values: [Int8], rejected: Set<Int64>, meta: Set<Int64>,
        lastVoteEvent: Int64
    ) {
        self.participants = participants
        self.statements = statements
        self.values = values
        self.rejected = rejected
        self.meta = meta
        self.lastVoteEvent = lastVoteEvent
    }
}

/// What an import added; a second import of the same files adds nothing.
public struct ImportSummary: Sendable, Equatable {
    public var conversation: Conversation
    public var createdConversation: Bool
    public var statementsAdded: Int
    public var participantsAdded: Int
    public var votesAdded: Int

    public init(
        conversation: Conversation, createdConversation: Bool, statementsAdded: Int, participantsAdded: Int,
        votesAdded: Int
    ) {
        self.conversation = conversation
        self.createdConversation = createdConversation
        self.statementsAdded = statementsAdded
        self.participantsAdded = participantsAdded
        self.votesAdded = votesAdded
    }
}

/// A published constitution: immutable, numbered per conversation, named by its hash.
public struct StoredConstitution: Sendable, Equatable {
    public var id: Int64
    public var conversationID: Int64
    public var version: Int
    public var sha256: String
    /// The constitution in Charter's JSON format.
    public var body: Data
    public var createdAt: Date
    public var createdBy: String

    public init(
        id: Int64, conversationID: Int64, version: Int, sha256: String, body: Data, createdAt: Date, createdBy: String
    ) {
        self.id = id
        self.conversationID = conversationID
        self.version = version
        self.sha256 = sha256
        self.body = body
        self.createdAt = createdAt
        self.createdBy = createdBy
    }
}

/// What happened when a browser or registration used an xid under a binding policy.
public struct XIDBinding: Sendable, Equatable {
    public var participant: Participant
    /// True when this binder holds the xid (now or from before); false when another does.
    public var held: Bool
    /// True when this use made the participant.
    public var created: Bool

    public init(participant: Participant, held: Bool, created: Bool) {
        self.participant = participant
        self.held = held
        self.created = created
    }
}

public enum PrincipleGrouping: Sendable, Equatable {
    case merge(into: Int64)
    case split
    case automatic
}

/// What group commit has done since the store opened.
public struct VoteCommitStatistics: Sendable, Equatable {
    public init() {}

    /// Committed vote transactions.
    public var transactions = 0
    /// Votes in them, accepted or refused by a rule.
    public var votes = 0
    public var largestBatch = 0
    public var failedTransactions = 0
}
