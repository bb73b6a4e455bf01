/// Raking (iterative proportional fitting): weights for a sample's respondents so that, on each
/// margin (a question with target shares), the weighted shares of its categories match the
/// targets. Each pass adjusts one margin at a time, among the respondents who answered it, so a
/// respondent who skipped a question keeps the weight the other margins give them; after each
/// round the weights are scaled to a mean of 1 and trimmed at `cap` (the excess spread over the
/// others), which may keep the targets from being met exactly (then `converged` is false).
public enum Raking {
    /// One question with targets: every respondent's category (an index into `targets`), or nil
    /// when they did not answer it (skipped, preferred not to say).
    public struct Margin: Sendable, Equatable {
        public var categories: [Int?]
        /// The share each category should have among those who answered; they should add up
        /// to 1. Categories nobody answered are left out and the others' targets scaled up.
        public var targets: [Double]

        public init(categories: [Int?], targets: [Double]) {
            self.categories = categories
            self.targets = targets
        }
    }

    public struct Result: Sendable, Equatable {
        /// One per respondent, with a mean of 1.
        public var weights: [Double]
        public var iterations: Int
        /// Whether every margin's weighted shares are within the tolerance of its targets.
        public var converged: Bool
        /// The largest difference left between a weighted share and its target.
        public var largestGap: Double
        /// Kish's effective sample size, (Σw)² / Σw².
        public var effectiveSampleSize: Double
        public var maxWeight: Double
        /// For each margin, the weighted share of each category among those who answered.
        public var achieved: [[Double]]
    }

    /// Rakes `count` respondents over `margins`. `cap` (≥ 1) is the largest weight relative to
    /// the mean; margins or categories with no respondents are skipped rather than divided by.
    public static func rake(
        count: Int, margins: [Margin], cap: Double = 5, tolerance: Double = 1e-6, maxIterations: Int = 1000
    ) -> Result {
        let n = max(0, count)
        var weights = [Double](repeating: 1, count: n)
        let cap = cap.isFinite ? max(1, cap) : 5
        var iterations = 0
        var gap = largestGap(weights, margins)
        while gap > tolerance, iterations < max(0, maxIterations) {
            iterations += 1
            for margin in margins { adjust(&weights, to: margin) }
            trim(&weights, cap: cap)
            let next = largestGap(weights, margins)
            // No progress left to make (a cap that binds, targets nobody can meet): stop.
            if abs(next - gap) < tolerance * 1e-3 {
                gap = next
                break
            }
            gap = next
        }
        return Result(
            weights: weights, iterations: iterations, converged: gap <= tolerance, largestGap: gap,
            effectiveSampleSize: effectiveSampleSize(weights), maxWeight: weights.max() ?? 0,
            achieved: margins.map { shares(weights, $0) })
    }

    /// Kish's effective sample size, (Σw)² / Σw²; 0 for no weights.
    public static func effectiveSampleSize(_ weights: [Double]) -> Double {
        let sum = weights.reduce(0, +)
        let squares = weights.reduce(0) { $0 + $1 * $1 }
        return squares > 0 ? sum * sum / squares : 0
    }

    /// The targets among the categories someone answered, scaled to add up to 1.
    static func reachableTargets(_ margin: Margin, present: [Bool]) -> [Double] {
        let total = margin.targets.indices.reduce(0.0) { $0 + (present[$1] ? max(0, margin.targets[$1]) : 0) }
        return margin.targets.indices.map { present[$0] && total > 0 ? max(0, margin.targets[$0]) / total : 0 }
    }

    static func totals(_ weights: [Double], _ margin: Margin) -> (byCategory: [Double], present: [Bool], all: Double) {
        var byCategory = [Double](repeating: 0, count: margin.targets.count)
        var present = [Bool](repeating: false, count: margin.targets.count)
        var all = 0.0
        for (i, category) in margin.categories.enumerated() where i < weights.count {
            guard let c = category, c >= 0, c < byCategory.count else { continue }
            byCategory[c] += weights[i]
            present[c] = true
            all += weights[i]
        }
        return (byCategory, present, all)
    }

    static func adjust(_ weights: inout [Double], to margin: Margin) {
        let (byCategory, present, all) = totals(weights, margin)
        guard all > 0 else { return }
        let targets = reachableTargets(margin, present: present)
        let factors = byCategory.indices.map { byCategory[$0] > 0 ? targets[$0] * all / byCategory[$0] : 1 }
        for (i, category) in margin.categories.enumerated() where i < weights.count {
            guard let c = category, c >= 0, c < factors.count else { continue }
            weights[i] *= factors[c]
        }
    }

    /// Scales the weights to a mean of 1, then caps them, spreading what the cap takes over the
    /// weights under it, until none is over (a few rounds at most in practice).
    static func trim(_ weights: inout [Double], cap: Double) {
        let n = Double(weights.count)
        guard n > 0 else { return }
        for _ in 0..<100 {
            let sum = weights.reduce(0, +)
            guard sum > 0 else { return }
            for i in weights.indices { weights[i] *= n / sum }
            guard weights.contains(where: { $0 > cap * (1 + 1e-12) }) else { return }
            let capped = weights.indices.filter { weights[$0] >= cap }
            let under = weights.indices.filter { weights[$0] < cap }
            let underSum = under.reduce(0.0) { $0 + weights[$1] }
            let room = n - cap * Double(capped.count)
            guard underSum > 0, room > 0 else {
                for i in weights.indices { weights[i] = min(weights[i], cap) }
                return
            }
            for i in capped { weights[i] = cap }
            for i in under { weights[i] *= room / underSum }
        }
    }

    static func shares(_ weights: [Double], _ margin: Margin) -> [Double] {
        let (byCategory, _, all) = totals(weights, margin)
        return byCategory.map { all > 0 ? $0 / all : 0 }
    }

    static func largestGap(_ weights: [Double], _ margins: [Margin]) -> Double {
        var gap = 0.0
        for margin in margins {
            let (byCategory, present, all) = totals(weights, margin)
            guard all > 0 else { continue }
            let targets = reachableTargets(margin, present: present)
            for c in byCategory.indices { gap = max(gap, abs(byCategory[c] / all - targets[c])) }
        }
        return gap
    }
}
