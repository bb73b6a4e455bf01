import CharterMath
import Testing

/// Raking (iterative proportional fitting) on synthetic samples whose make-up is known.
@Suite struct RakingTests {
    /// A sample of 1000 skewed on two correlated questions: age (young 60%, middle 30%, old 10%)
    /// and region (north 70%, south 30%), the south mostly old; some skipped region.
    static func sample() -> (age: [Int?], region: [Int?]) {
        var age: [Int?] = []
        var region: [Int?] = []
        for i in 0..<1000 {
            let a = i < 600 ? 0 : i < 900 ? 1 : 2
            age.append(a)
            let south = a == 2 ? i % 4 != 0 : i % 5 == 0
            region.append(i % 17 == 0 ? nil : south ? 1 : 0)
        }
        return (age, region)
    }

    static func weightedShares(_ weights: [Double], _ categories: [Int?], count: Int) -> [Double] {
        var totals = [Double](repeating: 0, count: count)
        for (w, c) in zip(weights, categories) { if let c { totals[c] += w } }
        let all = totals.reduce(0, +)
        return totals.map { $0 / all }
    }

    @Test func rakingMeetsTheTargetsOnEveryMargin() {
        let (age, region) = Self.sample()
        let result = Raking.rake(
            count: 1000,
            margins: [
                Raking.Margin(categories: age, targets: [0.3, 0.4, 0.3]),
                Raking.Margin(categories: region, targets: [0.5, 0.5]),
            ], cap: 10)
        #expect(result.converged)
        #expect(result.iterations > 1)
        for (achieved, target) in zip(Self.weightedShares(result.weights, age, count: 3), [0.3, 0.4, 0.3]) {
            #expect(abs(achieved - target) < 1e-6)
        }
        // Those who skipped region are weighted by age alone, and region still matches among
        // those who answered it.
        for (achieved, target) in zip(Self.weightedShares(result.weights, region, count: 2), [0.5, 0.5]) {
            #expect(abs(achieved - target) < 1e-6)
        }
        #expect(abs(result.weights.reduce(0, +) - 1000) < 1e-6, "a mean weight of 1")
        let sum = result.weights.reduce(0, +)
        let squares = result.weights.reduce(0) { $0 + $1 * $1 }
        #expect(abs(result.effectiveSampleSize - sum * sum / squares) < 1e-9)
        #expect(result.effectiveSampleSize < 1000 && result.effectiveSampleSize > 100)
    }

    @Test func theCapHoldsEvenWhenItKeepsTheTargetsOutOfReach() {
        // 2% old in the sample, 40% in the population: the old would need weights of 20.
        let age: [Int?] = (0..<500).map { $0 < 490 ? 0 : 1 }
        let capped = Raking.rake(count: 500, margins: [Raking.Margin(categories: age, targets: [0.6, 0.4])], cap: 5)
        #expect(capped.maxWeight <= 5 + 1e-9)
        #expect(capped.weights.allSatisfy { $0 <= 5 + 1e-9 })
        #expect(!capped.converged)
        #expect(capped.largestGap > 0.1)
        #expect(abs(capped.weights.reduce(0, +) - 500) < 1e-6)
        // The old get as much as the cap allows; closer to the target than unweighted.
        let share = Self.weightedShares(capped.weights, age, count: 2)[1]
        #expect(share > 0.02 && share < 0.4)

        let loose = Raking.rake(count: 500, margins: [Raking.Margin(categories: age, targets: [0.6, 0.4])], cap: 100)
        #expect(loose.converged)
        #expect(abs(loose.maxWeight - 0.4 / 0.02) < 1e-6)
    }

    @Test func kishEffectiveSampleSize() {
        #expect(Raking.effectiveSampleSize([1, 1, 1, 1]) == 4)
        #expect(abs(Raking.effectiveSampleSize([1, 1, 2]) - 16.0 / 6.0) < 1e-12)
        #expect(Raking.effectiveSampleSize([]) == 0)
    }

    @Test func emptyCategoriesAndMarginsAreSkippedNotDividedBy() {
        // Nobody chose the third option: the other two share its target in proportion.
        let answers: [Int?] = [0, 0, 0, 1, nil, nil]
        let result = Raking.rake(count: 6, margins: [Raking.Margin(categories: answers, targets: [0.25, 0.25, 0.5])])
        #expect(result.converged)
        #expect(result.weights.allSatisfy { $0.isFinite && $0 > 0 })
        let shares = Self.weightedShares(result.weights, answers, count: 3)
        #expect(abs(shares[0] - 0.5) < 1e-6 && abs(shares[1] - 0.5) < 1e-6)
        // Nobody answered at all: everyone keeps a weight of 1.
        let none = Raking.rake(count: 3, margins: [Raking.Margin(categories: [nil, nil, nil], targets: [0.5, 0.5])])
        #expect(none.weights == [1, 1, 1] && none.converged && none.effectiveSampleSize == 3)
        // Out-of-range categories from a caller are ignored, never a trap.
        let odd = Raking.rake(count: 2, margins: [Raking.Margin(categories: [7, -1, 0], targets: [1])])
        #expect(odd.weights.count == 2)
    }
}
