import CharterCompiler
import CharterMath
import Foundation
import Testing

/// The compiler's weighting: raking participants to demographic targets before the rule reads
/// each group's agree share.
@Suite struct WeightingTests {
    /// Each opinion group has 9 young participants who agree with statement 10 and 1 old one
    /// who passes: 90% agree in both groups, a CCAI score of 0.81. The population is 60% young
    /// and 40% old, so the sample is skewed young.
    static func skewed() -> (statements: [CompilerStatement], votes: [AnalysisVote], answers: [Int64: [String: String]])
    {
        let (statements, votes) = CompilerTests.conversation([10: (9, 9)])
        var answers: [Int64: [String: String]] = [:]
        for p in 0..<20 { answers[Int64(p)] = ["age": p / 2 < 9 ? "young" : "old"] }
        return (statements, votes, answers)
    }

    static let targets = [
        Weighting.QuestionTargets(
            question: "age", shares: [.init(option: "young", share: 0.6), .init(option: "old", share: 0.4)])
    ]

    @Test func aSkewedSampleCompilesDifferentlyWithWeightingOn() throws {
        let (statements, votes, answers) = Self.skewed()
        let off = ConstitutionCompiler.compile(
            name: "t", conversation: "t", statements: statements, votes: votes,
            parameters: CompileParameters(rule: .ccai, mergeSimilarity: 1.01), demographics: answers)
        #expect(off.analysis.k == 2)
        #expect(off.decisions.first { $0.statement == 10 }?.kept == true)
        #expect(off.constitution.report?.weighting == nil)

        let on = ConstitutionCompiler.compile(
            name: "t", conversation: "t", statements: statements, votes: votes,
            parameters: CompileParameters(
                rule: .ccai, mergeSimilarity: 1.01, weighting: Weighting(cap: 5, targets: Self.targets)),
            demographics: answers)
        let decision = try #require(on.decisions.first { $0.statement == 10 })
        // Weighted, each group agrees 60%: 0.6 × 0.6 = 0.36.
        #expect(!decision.kept)
        #expect(abs((decision.score ?? 0) - 0.36) < 1e-6)
        let report = try #require(on.constitution.report?.weighting)
        #expect(report.participants == 20 && report.answered == 20)
        #expect(report.converged)
        // Young weigh 2/3, old 4: Kish's (Σw)²/Σw² = 400 / (18·4/9 + 2·16) = 10.
        #expect(abs(report.effectiveSampleSize - 10) < 1e-6)
        #expect(abs(report.maxWeight - 4) < 1e-6)

        // Recorded in the parameters, so the hash differs only when weighting is on.
        let offJSON = String(decoding: try off.constitution.canonicalJSON(), as: UTF8.self)
        let onJSON = String(decoding: try on.constitution.canonicalJSON(), as: UTF8.self)
        #expect(!offJSON.contains("weighting"))
        #expect(onJSON.contains(#""weighting":{"cap":5"#))
        #expect(try off.constitution.hashed().sha256 != on.constitution.hashed().sha256)
        let plain = ConstitutionCompiler.compile(
            name: "t", conversation: "t", statements: statements, votes: votes,
            parameters: CompileParameters(rule: .ccai, mergeSimilarity: 1.01))
        #expect(try plain.constitution.hashed().sha256 == off.constitution.hashed().sha256)
    }

    @Test func theCapLimitsHowFarWeightingMoves() throws {
        let (statements, votes, answers) = Self.skewed()
        let capped = ConstitutionCompiler.compile(
            name: "t", conversation: "t", statements: statements, votes: votes,
            parameters: CompileParameters(
                rule: .ccai, mergeSimilarity: 1.01, weighting: Weighting(cap: 2, targets: Self.targets)),
            demographics: answers)
        let report = try #require(capped.constitution.report?.weighting)
        #expect(report.maxWeight <= 2 + 1e-9)
        #expect(!report.converged)
        let score = try #require(capped.decisions.first { $0.statement == 10 }?.score)
        #expect(score > 0.36 && score < 0.81)
    }

    @Test func weightsOfOneChangeNothing() {
        // Targets equal to the sample's own make-up: every weight is 1, so the scores are the
        // unweighted ones.
        let (statements, votes, answers) = Self.skewed()
        let own = [
            Weighting.QuestionTargets(
                question: "age", shares: [.init(option: "young", share: 0.9), .init(option: "old", share: 0.1)])
        ]
        let off = ConstitutionCompiler.compile(
            name: "t", conversation: "t", statements: statements, votes: votes,
            parameters: CompileParameters(rule: .polisGAC, mergeSimilarity: 1.01))
        let on = ConstitutionCompiler.compile(
            name: "t", conversation: "t", statements: statements, votes: votes,
            parameters: CompileParameters(
                rule: .polisGAC, mergeSimilarity: 1.01, weighting: Weighting(targets: own)),
            demographics: answers)
        for (a, b) in zip(off.decisions, on.decisions) {
            #expect(a.statement == b.statement && a.kept == b.kept)
            #expect(abs((a.score ?? 0) - (b.score ?? 0)) < 1e-9)
        }
        #expect(on.constitution.report?.weighting?.effectiveSampleSize == 20)
    }
}
