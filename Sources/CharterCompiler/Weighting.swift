public import CharterMath

/// Weighting participants so the sample matches target shares (census figures, say) before the
/// selection rule reads the groups' agree shares: raking over the questions that have targets.
/// Recorded in the constitution's parameters only when asked for, so a compile without it keeps
/// its hash.
public struct Weighting: Codable, Sendable, Equatable {
    /// The largest weight a participant gets, relative to the mean weight (1).
    public var cap: Double
    /// The shares raked to, one entry per question with targets, by question key; filled from
    /// the conversation's demographic questions when the compile runs.
    public var targets: [QuestionTargets]

    public static let defaultCap = 5.0
    public static let capRange: ClosedRange<Double> = 1...100

    public init(cap: Double = Self.defaultCap, targets: [QuestionTargets] = []) {
        self.cap = cap
        self.targets = targets
    }

    public struct QuestionTargets: Codable, Sendable, Equatable {
        public var question: String
        public var shares: [OptionShare]

        public init(question: String, shares: [OptionShare]) {
            self.question = question
            self.shares = shares
        }
    }

    public struct OptionShare: Codable, Sendable, Equatable {
        public var option: String
        public var share: Double

        public init(option: String, share: Double) {
            self.option = option
            self.share = share
        }
    }

    /// Rakes `participants` by their `answers` (question → option) to the targets. An answer
    /// outside a question's targets (prefer not to say, an option without a target) counts as
    /// no answer to that question.
    public func weights(participants: [Int64], answers: [Int64: [String: String]]) -> (
        weights: [Int64: Double], result: Raking.Result
    ) {
        let margins = targets.map { question -> Raking.Margin in
            let index = Dictionary(
                question.shares.enumerated().map { ($0.element.option, $0.offset) }, uniquingKeysWith: { a, _ in a })
            return Raking.Margin(
                categories: participants.map { answers[$0]?[question.question].flatMap { index[$0] } },
                targets: question.shares.map(\.share))
        }
        let result = Raking.rake(count: participants.count, margins: margins, cap: cap)
        var weights: [Int64: Double] = [:]
        for (i, participant) in participants.enumerated() where i < result.weights.count {
            weights[participant] = result.weights[i]
        }
        return (weights, result)
    }
}

/// What weighting did, in the constitution's report.
public struct WeightingReport: Codable, Sendable, Equatable {
    /// Participants weighted (those the selection rule counts).
    public var participants: Int
    /// Of them, those who answered at least one question with targets.
    public var answered: Int
    /// Kish's effective sample size, (Σw)² / Σw².
    public var effectiveSampleSize: Double
    public var maxWeight: Double
    public var iterations: Int
    /// Whether the weighted sample meets every target (within 10⁻⁶); a cap that binds can keep
    /// it from doing so.
    public var converged: Bool
    /// The largest difference left between a weighted share and its target.
    public var largestGap: Double
}

/// Agree and vote totals of one opinion group on one statement, each vote counted with its
/// participant's weight.
public struct WeightedGroupVotes: Sendable, Equatable {
    public var agree: Double
    public var votes: Double

    public var share: Double { votes > 0 ? agree / votes : 0 }
}

enum WeightedVotes {
    /// Per statement, per group of `analysis`, the weighted agree and vote totals of the group's
    /// members' latest votes.
    static func tally(votes: [AnalysisVote], analysis: AnalysisResult, weights: [Int64: Double]) -> [Int64:
        [WeightedGroupVotes]]
    {
        var groupOf: [Int64: Int] = [:]
        for (index, group) in analysis.groups.enumerated() { for member in group.members { groupOf[member] = index } }
        var latest: [ParticipantFilters.Cell: Int8] = [:]
        for vote in votes { latest[.init(participant: vote.participant, statement: vote.statement)] = vote.value }
        var tallies: [Int64: [WeightedGroupVotes]] = [:]
        let empty = [WeightedGroupVotes](repeating: WeightedGroupVotes(agree: 0, votes: 0), count: analysis.k)
        for (cell, value) in latest {
            guard let g = groupOf[cell.participant], g < analysis.k else { continue }
            let w = weights[cell.participant] ?? 1
            var row = tallies[cell.statement] ?? empty
            row[g].votes += w
            if value > 0 { row[g].agree += w }
            tallies[cell.statement] = row
        }
        return tallies
    }
}
