import CharterCompiler
import CharterMath
import Foundation
import Testing

@Suite struct CompilerTests {
    /// Two planted groups of 10 (even and odd participant ids, so that Polis' first-distinct-points
    /// start sees both) split by six divisive statements (ids 1–6), a statement everyone passes
    /// (7, so nobody straight-lines), and test statements whose agree counts per group are known.
    static func conversation(_ shares: [Int64: (Int, Int)], extraVoters: Int = 0) -> (
        statements: [CompilerStatement], votes: [AnalysisVote]
    ) {
        var votes: [AnalysisVote] = []
        var statements = (1...7).map {
            CompilerStatement(id: Int64($0), text: "Divisive statement \($0)", accepted: true)
        }
        for p in 0..<20 {
            let camp: Int8 = p.isMultiple(of: 2) ? 1 : -1
            for s in 1...6 { votes.append(AnalysisVote(participant: Int64(p), statement: Int64(s), value: camp)) }
            votes.append(AnalysisVote(participant: Int64(p), statement: 7, value: 0))
        }
        for (id, (a, b)) in shares.sorted(by: { $0.key < $1.key }) {
            statements.append(CompilerStatement(id: id, text: "Shared statement number \(id)", accepted: true))
            for p in 0..<20 {
                let rank = p / 2
                let agrees = p.isMultiple(of: 2) ? rank < a : rank < b
                votes.append(AnalysisVote(participant: Int64(p), statement: id, value: agrees ? 1 : 0))
            }
        }
        return (statements, votes)
    }

    @Test func theCCAIRuleKeepsProductsAboveTheThresholdAndDropsTheBoundary() throws {
        // Agree counts out of 10 in group A and group B.
        let (statements, votes) = Self.conversation([
            10: (9, 8),  // 0.72 exactly: dropped
            11: (10, 8),  // 0.80: kept
            12: (9, 9),  // 0.81: kept
            13: (8, 8),  // 0.64: dropped
            14: (10, 7),  // 0.70: dropped
        ])
        let result = ConstitutionCompiler.compile(
            name: "test", conversation: "t", statements: statements, votes: votes,
            parameters: CompileParameters(rule: .ccai, mergeSimilarity: 1.01))
        #expect(result.analysis.k == 2)
        let kept = Set(result.decisions.filter(\.kept).map(\.statement))
        #expect(kept == [11, 12])
        let boundary = try #require(result.decisions.first { $0.statement == 10 })
        #expect(abs((boundary.score ?? 0) - 0.72) < 1e-12)
        #expect(boundary.reason.contains("≤ 0.720"))
        #expect(result.constitution.principles.count == 2)
        #expect(result.constitution.report?.eligible == 12 && result.constitution.report?.selected == 2)
    }

    @Test func theOtherRulesUseTheirOwnScores() {
        let (statements, votes) = Self.conversation([10: (9, 8), 11: (10, 6), 12: (7, 7)])
        let minGroup = ConstitutionCompiler.compile(
            name: "t", conversation: "t", statements: statements, votes: votes,
            parameters: CompileParameters(rule: .minGroup, threshold: 0.7, mergeSimilarity: 1.01))
        #expect(Set(minGroup.decisions.filter(\.kept).map(\.statement)) == [10, 12])
        let gac = ConstitutionCompiler.compile(
            name: "t", conversation: "t", statements: statements, votes: votes,
            parameters: CompileParameters(rule: .polisGAC, threshold: (10.0 / 12) * (7.0 / 12), mergeSimilarity: 1.01))
        // GAC = (A+1)/(S+2) per group: 10 → 10/12·9/12, 11 → 11/12·7/12, 12 → 8/12·8/12.
        #expect(Set(gac.decisions.filter(\.kept).map(\.statement)) == [10, 11])
    }

    @Test func eligibilityNeedsModerationAndVotesInEveryGroup() {
        var (statements, votes) = Self.conversation([10: (10, 10), 11: (10, 10), 12: (10, 10)])
        statements[statements.firstIndex { $0.id == 11 }!].accepted = false
        statements[statements.firstIndex { $0.id == 12 }!].isMeta = true
        votes.removeAll { $0.statement == 10 && $0.participant >= 8 && !$0.participant.isMultiple(of: 2) }
        let result = ConstitutionCompiler.compile(
            name: "t", conversation: "t", statements: statements, votes: votes,
            parameters: CompileParameters(minimumVotesPerGroup: 5))
        let reasons = Dictionary(uniqueKeysWithValues: result.decisions.map { ($0.statement, $0.reason) })
        #expect(reasons[10] == "4 votes in group B, fewer than 5" || reasons[10] == "4 votes in group A, fewer than 5")
        #expect(reasons[11] == "not accepted by moderation")
        #expect(reasons[12] == "meta statement")
    }

    @Test func filtersRemoveFewVotesAndStraightLiners() {
        var (statements, votes) = Self.conversation([10: (10, 10)])
        // Participant 100 voted twice; 101 agreed with all seven.
        votes += [
            AnalysisVote(participant: 100, statement: 1, value: 1),
            AnalysisVote(participant: 100, statement: 2, value: -1),
        ]
        votes += (1...7).map { AnalysisVote(participant: 101, statement: $0 == 7 ? 10 : Int64($0), value: 1) }
        statements.append(CompilerStatement(id: 99, text: "unused", accepted: true))
        let filters = ParticipantFilters(minimumVotes: 3, straightLiningVotes: 7)
        let outcome = filters.apply(to: votes)
        #expect(outcome.removedForFewVotes == 1 && outcome.removedAsStraightLiners == 1)
        #expect(!outcome.votes.contains { $0.participant == 100 || $0.participant == 101 })
        let result = ConstitutionCompiler.compile(
            name: "t", conversation: "t", statements: statements, votes: votes,
            parameters: CompileParameters(filters: filters))
        #expect(result.constitution.report?.participants == 20)
        #expect(result.constitution.report?.removedAsStraightLiners == 1)
    }

    @Test func nearDuplicatesWithAgreeingVotesBecomeOnePrinciple() {
        var (statements, votes) = Self.conversation([10: (10, 9), 11: (10, 9), 12: (9, 9)])
        statements[statements.firstIndex { $0.id == 10 }!].text = "The AI should respect user privacy."
        statements[statements.firstIndex { $0.id == 11 }!].text = "The AI should respect the privacy of users."
        statements[statements.firstIndex { $0.id == 12 }!].text = "The AI should cite its sources."
        _ = votes
        let result = ConstitutionCompiler.compile(
            name: "t", conversation: "t", statements: statements, votes: votes,
            parameters: CompileParameters(mergeSimilarity: 0.5))
        #expect(result.constitution.principles.count == 2)
        let merged = result.constitution.principles.first { ($0.sources ?? []).count == 2 }
        #expect(merged?.sources?.map(\.statement) == [10, 11])
        #expect(result.decisions.first { $0.statement == 11 }?.mergedInto == 10)
        let separate = ConstitutionCompiler.compile(
            name: "t", conversation: "t", statements: statements, votes: votes,
            parameters: CompileParameters(mergeSimilarity: 1.01))
        #expect(separate.constitution.principles.count == 3)
    }

    @Test func organisersMergeAndSplitByHand() {
        var (statements, votes) = Self.conversation([10: (10, 9), 11: (10, 9), 12: (9, 9)])
        statements[statements.firstIndex { $0.id == 10 }!].text = "The AI should respect user privacy."
        statements[statements.firstIndex { $0.id == 11 }!].text = "The AI should respect the privacy of users."
        statements[statements.firstIndex { $0.id == 12 }!].text = "The AI should cite its sources."
        _ = votes
        func principles(_ grouping: [Int64: Int64?]) -> [[Int64]] {
            ConstitutionCompiler.compile(
                name: "t", conversation: "t", statements: statements, votes: votes,
                parameters: CompileParameters(mergeSimilarity: 0.5), grouping: grouping
            ).constitution.principles.map { ($0.sources ?? []).map(\.statement) }
        }
        #expect(principles([:]) == [[10, 11], [12]])
        #expect(principles([11: nil]) == [[10], [11], [12]])
        #expect(principles([12: 10]) == [[10, 11, 12], []].filter { !$0.isEmpty })
        #expect(principles([11: nil, 12: 11]) == [[10], [11, 12]])
        // A hand merge into a statement that was not selected changes nothing.
        #expect(principles([12: 1]) == [[10, 11], [12]])
    }

    /// "Merge #11 into #10": #10 leads the principle with its own wording and score even when
    /// #11 scores higher; #11 becomes a source of it.
    @Test func theStatementMergedIntoKeepsItsOwnWordingAndScore() {
        var (statements, votes) = Self.conversation([10: (9, 9), 11: (10, 10), 12: (9, 9)])
        statements[statements.firstIndex { $0.id == 10 }!].text = "The AI should cite its sources."
        statements[statements.firstIndex { $0.id == 11 }!].text = "The AI should never insult anyone."
        statements[statements.firstIndex { $0.id == 12 }!].text = "The AI should admit when it is unsure."
        func compile(_ grouping: [Int64: Int64?], wording: [Int64: String] = [:]) -> [Constitution.Principle] {
            ConstitutionCompiler.compile(
                name: "t", conversation: "t", statements: statements, votes: votes,
                parameters: CompileParameters(mergeSimilarity: 0.99), wording: wording, grouping: grouping
            ).constitution.principles
        }
        let apart = compile([:])
        let score10 = apart.first { $0.sources?.first?.statement == 10 }?.score
        let score11 = apart.first { $0.sources?.first?.statement == 11 }?.score
        #expect(score11 ?? 0 > score10 ?? 1, "the merged statement scores higher")

        let merged = compile([11: 10], wording: [10: "Cite your sources.", 11: "Insult nobody."])
        #expect(merged.count == 2)
        let principle = merged.first { ($0.sources ?? []).count == 2 }
        #expect(principle?.sources?.first?.statement == 10, "the lead is the first source")
        #expect(principle?.text == "Cite your sources.")
        #expect(principle?.score == score10)
        #expect(principle.map { Set(($0.sources ?? []).map(\.statement)) } == [10, 11])

        // Merging into a statement the similarity had already put in the same principle also
        // makes the target lead.
        let similar = ConstitutionCompiler.compile(
            name: "t", conversation: "t", statements: statements, votes: votes,
            parameters: CompileParameters(mergeSimilarity: 0.0, mergeShareDifference: 1), grouping: [11: 10]
        ).constitution.principles
        let lead = similar.first { ($0.sources ?? []).contains { $0.statement == 10 } }
        #expect(lead?.score == score10)
    }

    /// With no participant filtered out the compile uses the analysis it is given (the page's)
    /// as it is; with some filtered out it clusters again and says how its groups map.
    @Test func theCompileUsesThePagesAnalysisUnlessFiltersRemoveSomeone() {
        let (statements, votes) = Self.conversation([10: (10, 9), 11: (9, 9)])
        var page = Analyzer.analyze(votes: votes, moderatedOut: []).result
        // A page analysis whose shares differ from a cold one, to see which is used.
        page.statements = page.statements.map { statement in
            var changed = statement
            if changed.id == 10 {
                changed.groupVotes = changed.groupVotes.map {
                    try! JSONDecoder().decode(
                        AnalysisResult.GroupVotes.self,
                        from: Data(#"{"agree": \#($0.votes), "disagree": 0, "votes": \#($0.votes)}"#.utf8))
                }
            }
            return changed
        }
        let used = ConstitutionCompiler.compile(
            name: "t", conversation: "t", statements: statements, votes: votes, parameters: CompileParameters(),
            pageAnalysis: page)
        #expect(used.groups.sameAsAnalysisPage)
        #expect(used.groups.sizes == page.groups.map(\.size))
        #expect(used.constitution.principles.first { $0.sources?.first?.statement == 10 }?.groupAgreeShares == [1, 1])

        var filters = ParticipantFilters(minimumVotes: 0)
        filters.excludeFlagged = true
        filters.flagged = [0, 1]
        let refiltered = ConstitutionCompiler.compile(
            name: "t", conversation: "t", statements: statements, votes: votes,
            parameters: CompileParameters(filters: filters), pageAnalysis: page)
        #expect(!refiltered.groups.sameAsAnalysisPage)
        #expect(refiltered.groups.sizes.reduce(0, +) == 18)
        let overlap = refiltered.groups.overlap ?? []
        #expect(overlap.count == refiltered.groups.k)
        #expect(overlap.map { $0.reduce(0, +) } == refiltered.groups.sizes)
        #expect(refiltered.groups.pageSizes == page.groups.map(\.size))
        // The two camps stay apart: each group maps onto one of the page's.
        #expect(Set(refiltered.groups.closestPageGroup.compactMap { $0 }).count == refiltered.groups.k)
    }

    @Test func theSameVotesAndParametersGiveTheSameHash() throws {
        let (statements, votes) = Self.conversation([10: (10, 9), 11: (9, 9)])
        let first = try ConstitutionCompiler.compile(
            name: "t", conversation: "t", statements: statements, votes: votes, parameters: CompileParameters()
        ).constitution.hashed()
        let second = try ConstitutionCompiler.compile(
            name: "t", conversation: "t", statements: statements, votes: votes.reversed(),
            parameters: CompileParameters()
        ).constitution.hashed()
        #expect(first.sha256 == second.sha256)
        #expect(first.sha256?.count == 64)
        let other = try ConstitutionCompiler.compile(
            name: "t", conversation: "t", statements: statements, votes: votes,
            parameters: CompileParameters(threshold: 0.5)
        ).constitution.hashed()
        #expect(other.sha256 != first.sha256)
        // The canonical form is fixed bytes: sorted keys, no white space.
        let canonical = String(decoding: try first.canonicalJSON(), as: UTF8.self)
        #expect(canonical.hasPrefix("{\"conversation\":\"t\",\"description\":"))
        #expect(!canonical.contains("\n") && !canonical.contains("sha256"))
    }

    @Test func everyFormatCarriesTheSamePrinciples() throws {
        let (statements, votes) = Self.conversation([10: (10, 9), 11: (9, 9), 12: (10, 10)])
        let constitution = try ConstitutionCompiler.compile(
            name: "Demo", conversation: "demo", statements: statements, votes: votes,
            parameters: CompileParameters(mergeSimilarity: 1.01)
        ).constitution.hashed()
        let texts = constitution.principles.map(\.text)
        #expect(texts.count == 3)
        let json = try Constitution.decode(try constitution.rendered(.json))
        #expect(json == constitution)
        let txt = String(decoding: try constitution.rendered(.txt), as: UTF8.self)
        #expect(txt.split(separator: "\n").map(String.init) == texts)
        let md = String(decoding: try constitution.rendered(.md), as: UTF8.self)
        for text in texts { #expect(md.contains(text)) }
        #expect(md.contains(constitution.sha256!) && md.contains("## Provenance"))
        let cai = try #require(
            try JSONSerialization.jsonObject(with: try constitution.rendered(.cai)) as? [String: Any])
        let pairs = try #require(cai["constitutions"] as? [[String: String]])
        #expect(pairs.count == 3)
        for (pair, text) in zip(pairs, texts) {
            #expect(pair["critic"]?.hasSuffix(text) == true && pair["revision"]?.hasSuffix(text) == true)
        }
        #expect((cai["system_chat"] as? [Any])?.isEmpty == true)
    }

    @Test func theBaselineConstitutionLoadsAndRendersThroughTheSameCode() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("seeds/baseline-constitution.json")
        let baseline = try Constitution.decode(try Data(contentsOf: url))
        #expect(baseline.kind == "baseline" && baseline.principles.count == 40)
        #expect(baseline.principles.allSatisfy { $0.text.hasPrefix("Choose the response that") })
        let hashed = try baseline.hashed()
        #expect(try baseline.hashed().sha256 == hashed.sha256)
        for format in ConstitutionFormat.allCases { #expect(!(try hashed.rendered(format)).isEmpty) }
        let cai = try #require(
            try JSONSerialization.jsonObject(with: try hashed.rendered(.cai)) as? [String: Any])
        let pairs = try #require(cai["constitutions"] as? [[String: String]])
        #expect(pairs.first?["critic"] == baseline.principles.first?.critique)
    }
}
