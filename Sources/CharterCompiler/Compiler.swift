public import CharterMath
import Foundation

public struct CompileParameters: Codable, Sendable, Equatable {
    public var rule: SelectionRule
    public var threshold: Double
    /// Eligible statements have at least this many votes in every opinion group.
    public var minimumVotesPerGroup: Int
    public var filters: ParticipantFilters
    /// Statements at least this similar (TF-IDF cosine) whose vote patterns agree are merged.
    public var mergeSimilarity: Double
    /// Two statements' vote patterns agree when no group's agree share differs by more.
    public var mergeShareDifference: Double
    /// Participants weighted to target shares before the rule reads the groups' agree shares;
    /// nil (the default) counts every participant once.
    public var weighting: Weighting?

    public init(
        rule: SelectionRule = .ccai, threshold: Double? = nil, minimumVotesPerGroup: Int = 5,
        filters: ParticipantFilters = ParticipantFilters(), mergeSimilarity: Double = 0.7,
        mergeShareDifference: Double = 0.15, weighting: Weighting? = nil
    ) {
        self.rule = rule
        self.threshold = threshold ?? rule.defaultThreshold
        self.minimumVotesPerGroup = minimumVotesPerGroup
        self.filters = filters
        self.mergeSimilarity = mergeSimilarity
        self.mergeShareDifference = mergeShareDifference
        self.weighting = weighting
    }
}

/// A statement as the compiler sees it.
public struct CompilerStatement: Sendable, Equatable {
    public var id: Int64
    public var sourceID: String?
    public var text: String
    public var accepted: Bool
    public var isMeta: Bool

    public init(id: Int64, sourceID: String? = nil, text: String, accepted: Bool, isMeta: Bool = false) {
        self.id = id
        self.sourceID = sourceID
        self.text = text
        self.accepted = accepted
        self.isMeta = isMeta
    }
}

public struct CompileSummary: Codable, Sendable, Equatable {
    public var participants: Int
    public var removedForFewVotes: Int
    public var removedAsStraightLiners: Int
    /// Left out as flagged participants; nil unless that filter was asked for.
    public var removedAsFlagged: Int?
    public var votes: Int
    public var groups: Int
    public var statements: Int
    public var eligible: Int
    public var selected: Int
    public var principles: Int
    /// What weighting did; nil unless it was asked for.
    public var weighting: WeightingReport? = nil
}

/// Why each statement was kept or dropped, with its score under the rule.
public struct StatementDecision: Codable, Sendable, Equatable {
    public var statement: Int64
    public var text: String
    public var score: Double?
    public var kept: Bool
    public var reason: String
    /// The statement whose principle this one was merged into.
    public var mergedInto: Int64?
}

public struct CompileResult: Sendable {
    public var constitution: Constitution
    public var decisions: [StatementDecision]
    public var analysis: AnalysisResult
    /// Which opinion groups the selection rule ran over, and how they relate to the groups the
    /// organiser sees on the analysis page.
    public var groups: GroupsUsed
}

/// The opinion groups a compile used. Groups are labelled A, B, C… by their position in the
/// analysis (largest first), in every view and export.
public struct GroupsUsed: Sendable, Equatable, Codable {
    /// True when the compile used the analysis page's own analysis (no participant was
    /// filtered out); false when it had to cluster the remaining participants itself.
    public var sameAsAnalysisPage: Bool
    public var sizes: [Int]
    /// When re-clustered: `overlap[g][h]` participants of this compile's group g are in the
    /// analysis page's group h. Nil when the page's analysis was used or there was none.
    public var overlap: [[Int]]?
    public var pageSizes: [Int]?

    public var k: Int { sizes.count }

    public init(sameAsAnalysisPage: Bool, sizes: [Int], overlap: [[Int]]? = nil, pageSizes: [Int]? = nil) {
        self.sameAsAnalysisPage = sameAsAnalysisPage
        self.sizes = sizes
        self.overlap = overlap
        self.pageSizes = pageSizes
    }

    /// For each of this compile's groups, the page's group most of its members are in.
    public var closestPageGroup: [Int?] {
        guard let overlap else { return sizes.indices.map { $0 } }
        return overlap.map { row in
            guard let best = row.indices.max(by: { row[$0] != row[$1] ? row[$0] < row[$1] : $0 > $1 }), row[best] > 0
            else { return nil }
            return best
        }
    }
}

public enum ConstitutionCompiler {
    /// Compiles a conversation: filters participants, analyses the rest, selects by the rule,
    /// merges near-duplicates and words each principle. `wording` holds organisers' edits by
    /// lead statement id; they replace the rule-based wording. `grouping` holds their hand
    /// merges (statement → lead) and splits (statement → nil), applied after automatic merging.
    ///
    /// `pageAnalysis` is the analysis the organiser sees (warm-started, k smoothed). When the
    /// filters remove nobody it is used as it is, so the consensus rule runs over exactly the
    /// groups on the page; otherwise the remaining participants are clustered afresh and the
    /// result says how those groups map onto the page's.
    public static func compile(
        name: String, conversation: String, statements: [CompilerStatement], votes: [AnalysisVote],
        parameters: CompileParameters, wording: [Int64: String] = [:], grouping: [Int64: Int64?] = [:],
        pageAnalysis: AnalysisResult? = nil, demographics: [Int64: [String: String]] = [:]
    ) -> CompileResult {
        let filtered = parameters.filters.apply(to: votes)
        let analysis: AnalysisResult
        let groupsUsed: GroupsUsed
        if let pageAnalysis, filtered.votes.count == votes.count {
            analysis = pageAnalysis
            groupsUsed = GroupsUsed(sameAsAnalysisPage: true, sizes: pageAnalysis.groups.map(\.size))
        } else {
            let moderatedOut = Set(statements.filter { !$0.accepted || $0.isMeta }.map(\.id))
            analysis = Analyzer.analyze(votes: filtered.votes, moderatedOut: moderatedOut).result
            groupsUsed = Self.groups(analysis, against: pageAnalysis)
        }
        let stats = Dictionary(uniqueKeysWithValues: analysis.statements.map { ($0.id, $0) })
        // With weighting, the rule reads each group's weighted agree share (and a GAC of the
        // weighted counts); the eligibility check still counts votes.
        var weighted: [Int64: [WeightedGroupVotes]]?
        var weightingReport: WeightingReport?
        if let weighting = parameters.weighting {
            let participants = Array(Set(filtered.votes.map(\.participant))).sorted()
            let (weights, raked) = weighting.weights(participants: participants, answers: demographics)
            let targeted = Set(weighting.targets.map(\.question))
            weighted = WeightedVotes.tally(votes: filtered.votes, analysis: analysis, weights: weights)
            weightingReport = WeightingReport(
                participants: participants.count,
                answered: participants.filter { id in
                    demographics[id]?.contains { targeted.contains($0.key) } == true
                }.count,
                effectiveSampleSize: raked.effectiveSampleSize, maxWeight: raked.maxWeight,
                iterations: raked.iterations, converged: raked.converged, largestGap: raked.largestGap)
        }
        func groupShares(_ s: AnalysisResult.StatementStats) -> [Double] {
            guard let weighted else { return shares(s.groupVotes) }
            let row = weighted[s.id] ?? []
            return s.groupVotes.indices.map { $0 < row.count ? row[$0].share : 0 }
        }
        func gac(_ s: AnalysisResult.StatementStats) -> Double {
            guard let weighted else { return s.gac }
            let row = weighted[s.id] ?? []
            return s.groupVotes.indices.reduce(1.0) { product, g in
                let votes = g < row.count ? row[g] : WeightedGroupVotes(agree: 0, votes: 0)
                return product * (votes.agree + 1) / (votes.votes + 2)
            }
        }
        func ruleScore(_ s: AnalysisResult.StatementStats) -> Double {
            parameters.rule.score(shares: groupShares(s), gac: gac(s))
        }

        var decisions: [StatementDecision] = []
        var selected: [(statement: CompilerStatement, stats: AnalysisResult.StatementStats, score: Double)] = []
        var eligible = 0
        for statement in statements.sorted(by: { $0.id < $1.id }) {
            func drop(_ reason: String, score: Double? = nil) {
                decisions.append(
                    .init(statement: statement.id, text: statement.text, score: score, kept: false, reason: reason))
            }
            guard statement.accepted else {
                drop("not accepted by moderation")
                continue
            }
            guard !statement.isMeta else {
                drop("meta statement")
                continue
            }
            guard let s = stats[statement.id], analysis.k > 0 else {
                drop("no votes")
                continue
            }
            if let thin = s.groupVotes.firstIndex(where: { $0.votes < parameters.minimumVotesPerGroup }) {
                drop(
                    "\(s.groupVotes[thin].votes) votes in group \(groupLetter(thin)), fewer than \(parameters.minimumVotesPerGroup)",
                    score: ruleScore(s))
                continue
            }
            eligible += 1
            let score = ruleScore(s)
            guard parameters.rule.passes(score, threshold: parameters.threshold) else {
                drop(
                    "score \(format(score)) \(parameters.rule == .ccai ? "≤" : "<") \(format(parameters.threshold))",
                    score: score)
                continue
            }
            selected.append((statement, s, score))
            decisions.append(
                .init(
                    statement: statement.id, text: statement.text, score: score, kept: true,
                    reason:
                        "score \(format(score)) \(parameters.rule == .ccai ? ">" : "≥") \(format(parameters.threshold))"
                ))
        }

        let automatic = NearDuplicates.clusters(
            selected.map { ($0.statement.id, $0.statement.text, groupShares($0.stats), $0.score) },
            corpus: statements.map(\.text), similarity: parameters.mergeSimilarity,
            shareDifference: parameters.mergeShareDifference)
        let clusters = NearDuplicates.regroup(
            automatic, by: grouping,
            scores: Dictionary(uniqueKeysWithValues: selected.map { ($0.statement.id, $0.score) }))
        var principles: [Constitution.Principle] = []
        let byID = Dictionary(uniqueKeysWithValues: selected.map { ($0.statement.id, $0) })
        for (index, cluster) in clusters.enumerated() {
            guard let lead = byID[cluster.lead] else { continue }
            for member in cluster.members where member != cluster.lead {
                if let i = decisions.firstIndex(where: { $0.statement == member }) {
                    decisions[i].mergedInto = cluster.lead
                    decisions[i].reason += "; merged into statement \(cluster.lead)"
                }
            }
            let text = wording[cluster.lead] ?? PrincipleWording.principle(from: lead.statement.text)
            principles.append(
                Constitution.Principle(
                    id: "p\(index + 1)", text: text, critique: critique(text), revision: revision(text),
                    // The lead first: it is the principle's wording, score and handle (the
                    // builder keys its edits by the first source).
                    sources: ([cluster.lead] + cluster.members.filter { $0 != cluster.lead }).compactMap { byID[$0] }
                        .map {
                            .init(statement: $0.statement.id, sourceId: $0.statement.sourceID, text: $0.statement.text)
                        },
                    groupAgreeShares: groupShares(lead.stats), gac: gac(lead.stats), score: lead.score,
                    votes: lead.stats.votes))
        }
        let summary = CompileSummary(
            participants: Set(filtered.votes.map(\.participant)).count, removedForFewVotes: filtered.removedForFewVotes,
            removedAsStraightLiners: filtered.removedAsStraightLiners, removedAsFlagged: filtered.removedAsFlagged,
            votes: analysis.voteCount, groups: analysis.k,
            statements: statements.count, eligible: eligible, selected: selected.count, principles: principles.count,
            weighting: weightingReport)
        let constitution = Constitution(
            name: name, version: 0, kind: "collective",
            description: "Compiled by Charter from the votes of the conversation \(conversation).",
            conversation: conversation, parameters: parameters, report: summary, principles: principles)
        return CompileResult(constitution: constitution, decisions: decisions, analysis: analysis, groups: groupsUsed)
    }

    static func groups(_ analysis: AnalysisResult, against page: AnalysisResult?) -> GroupsUsed {
        let sizes = analysis.groups.map(\.size)
        guard let page else { return GroupsUsed(sameAsAnalysisPage: false, sizes: sizes) }
        var pageGroupOf: [Int64: Int] = [:]
        for (index, group) in page.groups.enumerated() { for member in group.members { pageGroupOf[member] = index } }
        let overlap = analysis.groups.map { group in
            var row = [Int](repeating: 0, count: page.groups.count)
            for member in group.members { if let h = pageGroupOf[member] { row[h] += 1 } }
            return row
        }
        return GroupsUsed(sameAsAnalysisPage: false, sizes: sizes, overlap: overlap, pageSizes: page.groups.map(\.size))
    }

    static func shares(_ groups: [AnalysisResult.GroupVotes]) -> [Double] {
        groups.map { $0.votes == 0 ? 0 : Double($0.agree) / Double($0.votes) }
    }

    /// The one labelling of opinion groups: the group's position in its analysis (largest
    /// first) as a letter, A to Z, then A1, B1…, so no two groups share a label.
    public static func groupLetter(_ index: Int) -> String {
        guard index >= 0 else { return "?" }
        let letter = String(UnicodeScalar(UInt8(65 + index % 26)))
        return index < 26 ? letter : "\(letter)\(index / 26)"
    }

    static func format(_ value: Double) -> String { String(format: "%.3f", value) }

    /// The critique request of the CAI recipes, from a principle.
    public static func critique(_ principle: String) -> String {
        "Identify specific ways in which the assistant's last response does not follow this principle: \(principle)"
    }

    public static func revision(_ principle: String) -> String {
        "Please rewrite the assistant response so that it follows this principle: \(principle)"
    }
}
