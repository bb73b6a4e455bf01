import CharterMath
import Foundation
import Testing

@Suite struct AnalyzerTests {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()

    /// Two planted camps of 20 that disagree on statements 1–4 and agree on 5.
    static func plantedVotes() -> [AnalysisVote] {
        var votes: [AnalysisVote] = []
        for p in 0..<40 {
            let camp: Int8 = p < 20 ? 1 : -1
            for s in 1...4 { votes.append(AnalysisVote(participant: Int64(p), statement: Int64(s), value: camp)) }
            votes.append(AnalysisVote(participant: Int64(p), statement: 5, value: 1))
            votes.append(AnalysisVote(participant: Int64(p), statement: 6, value: p % 3 == 0 ? 0 : camp))
            votes.append(AnalysisVote(participant: Int64(p), statement: 7, value: Int8(p % 3) - 1))
            // Background noise, so that no two participants sit on the same spot.
            for s in 8...10 {
                var hash = UInt64(p * 1000 + s) &* 0x9E37_79B9_7F4A_7C15
                hash ^= hash >> 29
                votes.append(AnalysisVote(participant: Int64(p), statement: Int64(s), value: Int8(hash % 3) - 1))
            }
        }
        return votes
    }

    @Test func plantedCampsBecomeTwoGroupsWithTheirStatements() throws {
        let (result, _) = Analyzer.analyze(votes: Self.plantedVotes())
        #expect(result.k == 2)
        #expect(result.groups.map(\.size) == [20, 20])
        let first = Set(result.groups[0].members)
        #expect(first == Set(0..<20) || first == Set(20..<40))
        for group in result.groups {
            // Each camp is represented by the divisive statements, in its own direction (the
            // other camp's best-agree is the shared statement 5, which Polis puts first).
            let direction: AnalysisResult.Direction = group.members.contains(0) ? .agree : .disagree
            let divisive = group.representative.filter { (1...4).contains($0.statement) }
            #expect(!divisive.isEmpty)
            #expect(divisive.allSatisfy { $0.direction == direction })
        }
        // Statement 5 is everyone's: consensus, and the highest group-aware consensus.
        #expect(result.consensus.agree.first?.statement == 5)
        let gac = Dictionary(uniqueKeysWithValues: result.statements.map { ($0.id, $0.gac) })
        #expect(gac[5] == result.statements.map(\.gac).max())
        let expected: Double = (21.0 / 22.0) * (21.0 / 22.0)
        let gacFive = try #require(gac[5])
        #expect(abs(gacFive - expected) < 1e-12)
        let ccai = try #require(result.statements.first { $0.id == 5 }?.ccaiAgreeProduct)
        #expect(ccai == 1)
    }

    @Test func moderatedOutStatementsStayInTheCountsButNotInTheMath() throws {
        let (plain, _) = Analyzer.analyze(votes: Self.plantedVotes())
        let (moderated, _) = Analyzer.analyze(votes: Self.plantedVotes(), moderatedOut: [1])
        let column = try #require(moderated.statementOrder.firstIndex(of: 1))
        #expect(moderated.components[0][column] == 0 && moderated.center[column] == 0)
        #expect(!moderated.groups.flatMap(\.representative).contains { $0.statement == 1 })
        #expect(!moderated.consensus.agree.contains { $0.statement == 1 })
        let stats = try #require(moderated.statements.first { $0.id == 1 })
        #expect(stats.moderatedOut && stats.votes == 40 && stats.gac > 0)
        #expect(plain.components[0][column] != 0)
    }

    @Test(arguments: ["no votes", "one participant", "one statement", "all passes", "all moderated out", "two voters"])
    func degenerateInputsGiveAValidResult(_ name: String) throws {
        var votes: [AnalysisVote] = []
        var moderatedOut: Set<Int64> = []
        switch name {
        case "one participant": votes = (1...5).map { AnalysisVote(participant: 1, statement: $0, value: 1) }
        case "one statement":
            votes = (1...30).map { AnalysisVote(participant: $0, statement: 1, value: $0 % 2 == 0 ? 1 : -1) }
        case "all passes":
            votes = (1...20).flatMap { p in (1...5).map { AnalysisVote(participant: p, statement: $0, value: 0) } }
        case "all moderated out":
            votes = Self.plantedVotes()
            moderatedOut = Set(1...7)
        case "two voters":
            votes = [
                AnalysisVote(participant: 1, statement: 1, value: 1),
                AnalysisVote(participant: 2, statement: 1, value: -1),
            ]
        default: break
        }
        let (result, _) = Analyzer.analyze(votes: votes, moderatedOut: moderatedOut)
        // Encoding fails on NaN or infinity, so this also proves every number is finite.
        let data = try Self.encoder.encode(result)
        #expect(!data.isEmpty)
        #expect(result.participants.count == Set(votes.map(\.participant)).count)
        #expect(result.participants.allSatisfy { $0.x.isFinite && $0.y.isFinite })
        #expect(result.groups.reduce(0) { $0 + $1.size } == result.participants.filter(\.inConv).count)
    }

    @Test func aWarmStartOnTheSameVotesKeepsTheGroups() throws {
        let votes = Self.plantedVotes()
        let (cold, _) = Analyzer.analyze(votes: votes)
        let (warm, _) = Analyzer.analyze(votes: votes, previous: cold.state)
        #expect(warm.groups.map { Set($0.members) } == cold.groups.map { Set($0.members) })
        #expect(warm.state.inConv == cold.state.inConv)
        // Once in, always in: a participant who drops below the vote threshold stays clustered.
        let fewer = votes.filter { !($0.participant == 3 && $0.statement > 2) }
        let (after, _) = Analyzer.analyze(votes: fewer, previous: cold.state)
        #expect(after.participants.first { $0.id == 3 }?.inConv == true)
    }

    @Test func theKSmootherWaitsForFourWinsInARow() throws {
        let (first, _) = Analyzer.analyze(votes: Self.plantedVotes())
        #expect(first.k == 2)
        var state = first.state
        state.k = 3
        state.kCandidate = 3
        state.kCandidateStreak = 0
        var ks: [Int] = []
        for _ in 0..<4 {
            let (next, _) = Analyzer.analyze(votes: Self.plantedVotes(), previous: state)
            ks.append(next.state.k)
            state = next.state
        }
        #expect(ks == [3, 3, 3, 2])
    }

    @Test func routingIsSeededAndFollowsPriority() {
        let candidates: [Int64] = [10, 20, 30]
        let priorities: [Int64: Double] = [10: 1, 20: 3, 30: 0]
        #expect(
            StatementRouting.pick(candidates, priorities: priorities, seed: 42)
                == StatementRouting.pick(candidates.reversed(), priorities: priorities, seed: 42))
        var counts: [Int64: Int] = [:]
        for seed in 0..<20_000 {
            counts[
                StatementRouting.pick(candidates, priorities: priorities, seed: UInt64(seed) &* 7919)!, default: 0] += 1
        }
        #expect(counts[30] == nil)
        let share = Double(counts[20] ?? 0) / 20_000
        #expect(abs(share - 0.75) < 0.02)
        #expect(StatementRouting.pick([], priorities: [:], seed: 1) == nil)
        // New statements get a boost over a well-voted, consensual one.
        let settled = PolisStatistics.priority(agree: 90, disagree: 5, votes: 100, extremity: 0.1, isMeta: false)
        #expect(StatementRouting.newStatementPriority > settled)
        #expect(PolisStatistics.priority(agree: 0, disagree: 0, votes: 0, extremity: 0, isMeta: true) == 49)
    }

    @Test func statisticsMatchTheirDefinitions() {
        let expected: Double = 2 * Double(11).squareRoot() * (8.0 / 11.0 - 0.5)
        #expect(abs(PolisStatistics.proportionTest(7, 10) - expected) < 1e-12)
        #expect(PolisStatistics.twoProportionTest(5, 5, 5, 5) == 0)
        #expect(PolisStatistics.twoProportionTest(9, 1, 10, 10) > PolisStatistics.significance)
        let product: Double = (4.0 / 6.0) * (2.0 / 4.0)
        #expect(PolisStatistics.groupAwareConsensus([(3, 4), (1, 2)]) == product)
    }
}
