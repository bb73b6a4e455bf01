/// One cell of the vote matrix: a participant's latest vote on a statement, agree = +1,
/// disagree = −1, pass = 0 (analysis-spec.md §0).
public struct AnalysisVote: Sendable, Hashable, Codable {
    public var participant: Int64
    public var statement: Int64
    public var value: Int8

    public init(participant: Int64, statement: Int64, value: Int8) {
        self.participant = participant
        self.statement = statement
        self.value = value
    }
}

public struct AnalysisOptions: Sendable, Equatable, Codable {
    /// A new best k must win this many analyses in a row before it replaces the current k (§5).
    public var kSmoothing: Int = 4
    public var baseClusterCount = 100
    public var baseIterations = 100
    public var groupIterations = 20
    public var maxGroups = 5
    /// The PCA stops when both components' residuals ‖DᵀD·v − λv‖ are at most this times λ₁.
    public var pcaTolerance = 1e-11
    /// At most this many passes over the votes.
    public var pcaMaxIterations = 2000

    public init() {}
}

/// What the next analysis of the same conversation starts from (warm start, §2 and §5).
public struct AnalysisState: Sendable, Equatable, Codable {
    public var inConv: [Int64]
    /// Component vectors by statement id, to start the iteration and to keep their signs.
    public var componentStatements: [Int64]
    public var components: [[Double]]
    public var baseClusters: [Cluster]
    /// Group clusters for every k tried, as lists of base-cluster ids.
    public var groupClusters: [GroupClustering]
    public var k: Int
    public var kCandidate: Int
    public var kCandidateStreak: Int

    public struct Cluster: Sendable, Equatable, Codable {
        public var id: Int
        public var members: [Int64]
        public var x: Double
        public var y: Double
    }

    public struct GroupClustering: Sendable, Equatable, Codable {
        public var k: Int
        public var clusters: [GroupCluster]
    }

    public struct GroupCluster: Sendable, Equatable, Codable {
        public var id: Int
        public var baseClusters: [Int]
    }
}

public struct AnalysisResult: Sendable, Equatable, Codable {
    public var participantCount: Int
    public var statementCount: Int
    public var voteCount: Int
    /// The number of opinion groups.
    public var k: Int
    /// The silhouette of every k tried.
    public var silhouettes: [KScore]
    public var participants: [ParticipantPoint]
    public var groups: [OpinionGroup]
    public var consensus: Consensus
    public var statements: [StatementStats]
    /// The PCA center and the two components, in the order of `statementOrder`.
    public var statementOrder: [Int64]
    public var center: [Double]
    public var components: [[Double]]
    public var state: AnalysisState

    public struct KScore: Sendable, Equatable, Codable {
        public var k: Int
        public var silhouette: Double
    }

    public struct ParticipantPoint: Sendable, Equatable, Codable {
        public var id: Int64
        public var x: Double
        public var y: Double
        public var voteCount: Int
        public var inConv: Bool
        public var baseCluster: Int?
        public var group: Int?
    }

    public struct OpinionGroup: Sendable, Equatable, Codable {
        public var id: Int
        public var size: Int
        public var members: [Int64]
        public var representative: [Repness]
    }

    public struct Repness: Sendable, Equatable, Codable {
        public var statement: Int64
        public var direction: Direction
        /// Members of the group who voted this way, and all of its members who voted.
        public var count: Int
        public var total: Int
        /// (count+1)/(total+2): the group's smoothed share in this direction.
        public var probability: Double
        public var probabilityTest: Double
        /// The group's share over everyone else's.
        public var repness: Double
        public var repnessTest: Double
        /// Everyone else's smoothed share in this direction.
        public var othersProbability: Double
    }

    public enum Direction: String, Sendable, Codable {
        case agree
        case disagree
    }

    public struct Consensus: Sendable, Equatable, Codable {
        public var agree: [ConsensusStatement]
        public var disagree: [ConsensusStatement]
    }

    public struct ConsensusStatement: Sendable, Equatable, Codable {
        public var statement: Int64
        public var count: Int
        public var total: Int
        public var probability: Double
        public var probabilityTest: Double
    }

    public struct GroupVotes: Sendable, Equatable, Codable {
        public var agree: Int
        public var disagree: Int
        public var votes: Int
    }

    public struct StatementStats: Sendable, Equatable, Codable {
        public var id: Int64
        public var x: Double
        public var y: Double
        public var extremity: Double
        public var moderatedOut: Bool
        /// All voters' latest votes.
        public var agree: Int
        public var disagree: Int
        public var votes: Int
        /// In-conv members of each group, indexed like `groups`.
        public var groupVotes: [GroupVotes]
        public var gac: Double
        public var gacDisagree: Double
        /// Π over groups of the unsmoothed agree share (CCAI's selection score).
        public var ccaiAgreeProduct: Double
        /// The routing priority (§9).
        public var priority: Double
    }
}

/// Milliseconds spent in each phase; kept apart from the result so that the same votes give
/// byte-identical results.
public struct AnalysisTimings: Sendable, Equatable, Codable {
    /// Reading the votes (a CSV file, the store), when the caller measured it.
    public var read: Double = 0
    public var matrix: Double = 0
    /// The components and the projections.
    public var pca: Double = 0
    /// Passes over the votes the PCA took (not milliseconds).
    public var pcaPasses: Int = 0
    public var clustering: Double = 0
    public var statistics: Double = 0
    public var total: Double = 0
}
