public import CharterMath

/// How statements are chosen for the constitution (design.md, "Constitution compiler").
public enum SelectionRule: String, Sendable, Codable, CaseIterable {
    /// The published CCAI rule: Π over groups of the unsmoothed agree share > threshold.
    case ccai
    /// Polis' smoothed group-aware consensus ≥ threshold.
    case polisGAC = "polis-gac"
    /// Every group's agree share ≥ threshold.
    case minGroup = "min-group"

    public var defaultThreshold: Double {
        switch self {
        case .ccai: 0.72
        case .polisGAC: 0.5
        case .minGroup: 0.6
        }
    }

    /// The statement's score under this rule, from its per-group counts.
    public func score(_ groups: [AnalysisResult.GroupVotes], gac: Double) -> Double {
        guard !groups.isEmpty else { return 0 }
        return score(shares: groups.map { $0.votes == 0 ? 0 : Double($0.agree) / Double($0.votes) }, gac: gac)
    }

    /// The score from each group's agree share (weighted or not) and the statement's GAC.
    public func score(shares: [Double], gac: Double) -> Double {
        guard !shares.isEmpty else { return 0 }
        switch self {
        case .ccai: return shares.reduce(1, *)
        case .polisGAC: return gac
        case .minGroup: return shares.min() ?? 0
        }
    }

    /// CCAI's cut is strict: a product of exactly the threshold is dropped, "exactly" allowing
    /// for rounding (0.9 × 0.8 is 0.7200000000000001 in binary). The others keep the threshold.
    public func passes(_ score: Double, threshold: Double) -> Bool {
        let tolerance = 1e-9
        return switch self {
        case .ccai: score > threshold + tolerance
        case .polisGAC, .minGroup: score >= threshold - tolerance
        }
    }
}

/// Participant filters applied before the analysis a compile runs on, as CCAI cleaned its data.
public struct ParticipantFilters: Sendable, Codable, Equatable {
    /// Participants with fewer votes are left out.
    public var minimumVotes: Int
    /// Participants who agreed with everything, or disagreed with everything, over at least
    /// this many votes are left out; nil keeps them.
    public var straightLiningVotes: Int?
    /// Leave out the participants flagged as possible ballot stuffing (fast voting, a burst of
    /// new participants from one address, identical votes from participants made together).
    /// Recorded in the constitution's parameters; nil when the filter was not asked for.
    public var excludeFlagged: Bool?
    /// The flagged participants, found by the caller; not part of the recorded parameters.
    public var flagged: Set<Int64> = []

    enum CodingKeys: String, CodingKey {
        case minimumVotes, straightLiningVotes, excludeFlagged
    }

    public init(minimumVotes: Int = 0, straightLiningVotes: Int? = nil, excludeFlagged: Bool? = nil) {
        self.minimumVotes = minimumVotes
        self.straightLiningVotes = straightLiningVotes
        self.excludeFlagged = excludeFlagged
    }

    public struct Outcome: Sendable, Equatable {
        public var votes: [AnalysisVote]
        public var removedForFewVotes: Int
        public var removedAsStraightLiners: Int
        /// Nil unless the flagged participants were left out.
        public var removedAsFlagged: Int?
    }

    /// The votes of the participants who pass, and how many each filter removed (a participant
    /// is counted under the first filter it fails).
    public func apply(to votes: [AnalysisVote]) -> Outcome {
        var count: [Int64: Int] = [:]
        var agree: [Int64: Int] = [:]
        var disagree: [Int64: Int] = [:]
        var latest: [Cell: Int8] = [:]
        for vote in votes { latest[Cell(participant: vote.participant, statement: vote.statement)] = vote.value }
        for (cell, value) in latest {
            count[cell.participant, default: 0] += 1
            if value > 0 { agree[cell.participant, default: 0] += 1 }
            if value < 0 { disagree[cell.participant, default: 0] += 1 }
        }
        var few = Set<Int64>()
        var straight = Set<Int64>()
        var flaggedOut = Set<Int64>()
        for (participant, n) in count {
            if excludeFlagged == true, flagged.contains(participant) {
                flaggedOut.insert(participant)
            } else if n < minimumVotes {
                few.insert(participant)
            } else if let m = straightLiningVotes, n >= m,
                agree[participant, default: 0] == n || disagree[participant, default: 0] == n
            {
                straight.insert(participant)
            }
        }
        let removed = few.union(straight).union(flaggedOut)
        return Outcome(
            votes: votes.filter { !removed.contains($0.participant) }, removedForFewVotes: few.count,
            removedAsStraightLiners: straight.count, removedAsFlagged: excludeFlagged == true ? flaggedOut.count : nil)
    }

    struct Cell: Hashable {
        var participant: Int64
        var statement: Int64
    }
}
