import Foundation

/// The tests and scores of §6–§9, as pure functions of vote counts.
public enum PolisStatistics {
    /// One-sided 90%: the z a test must exceed to count as significant.
    public static let significance = 1.2816

    public static func proportionTest(_ successes: Int, _ trials: Int) -> Double {
        let n = Double(trials)
        return 2 * (n + 1).squareRoot() * ((Double(successes) + 1) / (n + 1) - 0.5)
    }

    public static func twoProportionTest(_ s1: Int, _ s2: Int, _ n1: Int, _ n2: Int) -> Double {
        let s1 = Double(s1) + 1
        let s2 = Double(s2) + 1
        let n1 = Double(n1) + 1
        let n2 = Double(n2) + 1
        let p1 = s1 / n1
        let p2 = s2 / n2
        let p = (s1 + s2) / (n1 + n2)
        if p == 1 { return 0 }
        return (p1 - p2) / (p * (1 - p) * (1 / n1 + 1 / n2)).squareRoot()
    }

    /// Group-aware consensus: Π over groups of (agrees + 1) / (votes + 2).
    public static func groupAwareConsensus(_ groups: [(agree: Int, votes: Int)]) -> Double {
        guard !groups.isEmpty else { return 0 }
        var product = 1.0
        for g in groups { product *= (Double(g.agree) + 1) / (Double(g.votes) + 2) }
        return product
    }

    /// Polis' routing priority: new and divisive statements first; meta statements get 49.
    public static func priority(agree: Int, disagree: Int, votes: Int, extremity: Double, isMeta: Bool) -> Double {
        if isMeta { return 49 }
        let a = Double(agree)
        let s = Double(votes)
        let passes = Double(votes - agree - disagree)
        let importance = (1 - (passes + 1) / (s + 2)) * (extremity + 1) * (a + 1) / (s + 2)
        let boosted = importance * (1 + 8 * pow(2, -s / 5))
        return boosted * boosted
    }
}
