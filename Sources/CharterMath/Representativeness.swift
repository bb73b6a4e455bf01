/// §7 representative statements of a group and §8 consensus statements.
enum Representativeness {
    typealias Counts = (agree: [Int], disagree: [Int], votes: [Int])

    struct Candidate {
        var column: Int
        var agree: AnalysisResult.Repness
        var disagree: AnalysisResult.Repness
        var na: Int
        var nd: Int

        /// The direction whose two-proportion test is larger.
        var chosen: AnalysisResult.Repness { agree.repnessTest > disagree.repnessTest ? agree : disagree }
        var score: Double {
            let r = chosen
            return r.repness * r.repnessTest * r.probability * r.probabilityTest
        }
    }

    static func select(statements: [Int64], moderatedOut: [Bool], group: Counts, others: Counts)
        -> [AnalysisResult.Repness]
    {
        let z = PolisStatistics.significance
        var sufficient: [Candidate] = []
        var best: Candidate?
        var bestAgree: Candidate?
        for j in statements.indices where !moderatedOut[j] {
            let na = group.agree[j]
            let nd = group.disagree[j]
            let ns = group.votes[j]
            let nar = others.agree[j]
            let ndr = others.disagree[j]
            let nsr = others.votes[j]
            func repness(_ direction: AnalysisResult.Direction, _ s: Int, _ sr: Int) -> AnalysisResult.Repness {
                let p = (Double(s) + 1) / (Double(ns) + 2)
                let pr = (Double(sr) + 1) / (Double(nsr) + 2)
                return AnalysisResult.Repness(
                    statement: statements[j], direction: direction, count: s, total: ns, probability: p,
                    probabilityTest: PolisStatistics.proportionTest(s, ns), repness: p / pr,
                    repnessTest: PolisStatistics.twoProportionTest(s, sr, ns, nsr), othersProbability: pr)
            }
            let candidate = Candidate(
                column: j, agree: repness(.agree, na, nar), disagree: repness(.disagree, nd, ndr), na: na, nd: nd)
            let a = candidate.agree
            let d = candidate.disagree
            if (a.repnessTest > z && a.probabilityTest > z) || (d.repnessTest > z && d.probabilityTest > z) {
                sufficient.append(candidate)
            }
            if best == nil
                || max(a.repnessTest, d.repnessTest) > max(best!.agree.repnessTest, best!.disagree.repnessTest)
            {
                best = candidate
            }
            guard na > 0 || nd > 0 else { continue }
            if let current = bestAgree {
                let c = current.agree
                if c.repness > 1 {
                    if a.repness * a.repnessTest * a.probability * a.probabilityTest
                        > c.repness * c.repnessTest * c.probability * c.probabilityTest
                    {
                        bestAgree = candidate
                    }
                } else if a.probability * a.probabilityTest > c.probability * c.probabilityTest {
                    bestAgree = candidate
                }
            } else if a.probabilityTest > z || (a.repness > 1 && a.probability > 0.5) {
                bestAgree = candidate
            }
        }
        if sufficient.isEmpty {
            if let bestAgree { return [bestAgree.chosen] }
            if let best { return [best.chosen] }
            return []
        }
        var chosen = sufficient.filter { $0.column != bestAgree?.column }
        chosen = chosen.enumerated().sorted {
            $0.element.score != $1.element.score ? $0.element.score > $1.element.score : $0.offset < $1.offset
        }.map(\.element)
        if let bestAgree { chosen.insert(bestAgree, at: 0) }
        let top = chosen.prefix(5).map(\.chosen)
        return top.filter { $0.direction == .agree } + top.filter { $0.direction == .disagree }
    }

    static func consensus(statements: [Int64], moderatedOut: [Bool], agree: [Int], disagree: [Int], votes: [Int])
        -> AnalysisResult.Consensus
    {
        func pick(_ counts: [Int]) -> [AnalysisResult.ConsensusStatement] {
            var candidates: [(order: Int, statement: AnalysisResult.ConsensusStatement)] = []
            for j in statements.indices where !moderatedOut[j] {
                let p = (Double(counts[j]) + 1) / (Double(votes[j]) + 2)
                let test = PolisStatistics.proportionTest(counts[j], votes[j])
                guard p > 0.5, test > PolisStatistics.significance else { continue }
                candidates.append(
                    (
                        j,
                        .init(
                            statement: statements[j], count: counts[j], total: votes[j], probability: p,
                            probabilityTest: test)
                    ))
            }
            return candidates.sorted {
                let a = $0.statement.probability * $0.statement.probabilityTest
                let b = $1.statement.probability * $1.statement.probabilityTest
                return a != b ? a > b : $0.order < $1.order
            }.prefix(5).map(\.statement)
        }
        return .init(agree: pick(agree), disagree: pick(disagree))
    }
}

extension AnalysisResult.StatementStats {
    /// The statement's repness for one group in each direction (§7: the group's smoothed share
    /// over the other groups' members'), for every statement, not only the representative ones.
    public func repness(ofGroup group: Int) -> (agree: Double, disagree: Double)? {
        guard groupVotes.indices.contains(group) else { return nil }
        let own = groupVotes[group]
        var othersAgree = 0
        var othersDisagree = 0
        var othersVotes = 0
        for (index, votes) in groupVotes.enumerated() where index != group {
            othersAgree += votes.agree
            othersDisagree += votes.disagree
            othersVotes += votes.votes
        }
        func smoothed(_ count: Int, _ total: Int) -> Double { (Double(count) + 1) / (Double(total) + 2) }
        return (
            smoothed(own.agree, own.votes) / smoothed(othersAgree, othersVotes),
            smoothed(own.disagree, own.votes) / smoothed(othersDisagree, othersVotes)
        )
    }
}
