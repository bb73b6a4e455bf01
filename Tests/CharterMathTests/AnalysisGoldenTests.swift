import Foundation
import Testing

@testable import CharterMath

/// Every shared Polis conversation analysed cold must give what the analysis gave before the
/// issue-18 engine (block Lanczos PCA, parallel passes): the same k, the same groups with the same
/// members, the same representative and consensus statements, and the same positions and
/// components to 1e-7. The figures were recorded once from the earlier engine
/// (`CHARTER_RECORD_GOLDEN=1 swift test --filter AnalysisGoldenTests` writes them again).
@Suite struct AnalysisGoldenTests {
    struct Golden: Codable {
        var k: Int
        var silhouettes: [Double]
        var groups: [[Int64]]
        var representative: [[String]]
        var consensusAgree: [Int64]
        var consensusDisagree: [Int64]
        var components: [[Double]]
        var xs: [Double]
        var ys: [Double]
    }

    static let file: URL = {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent()
        return url.appendingPathComponent("Fixtures/analysis-golden.json")
    }()

    static func summary(_ result: AnalysisResult) -> Golden {
        Golden(
            k: result.k, silhouettes: result.silhouettes.map(\.silhouette), groups: result.groups.map(\.members),
            representative: result.groups.map { $0.representative.map { "\($0.statement) \($0.direction.rawValue)" } },
            consensusAgree: result.consensus.agree.map(\.statement),
            consensusDisagree: result.consensus.disagree.map(\.statement), components: result.components,
            xs: result.participants.map(\.x), ys: result.participants.map(\.y))
    }

    @Test func everySharedConversationGivesTheRecordedResult() throws {
        var now: [String: Golden] = [:]
        for name in PolisData.conversations {
            let export = try PolisData.load(name)
            let input = PolisData.analysisInput(export)
            now[name] = Self.summary(Analyzer.analyze(votes: input.votes, moderatedOut: input.moderatedOut).result)
        }
        if ProcessInfo.processInfo.environment["CHARTER_RECORD_GOLDEN"] == "1" {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try FileManager.default.createDirectory(
                at: Self.file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try encoder.encode(now).write(to: Self.file)
            return
        }
        let recorded = try JSONDecoder().decode([String: Golden].self, from: Data(contentsOf: Self.file))
        for name in PolisData.conversations {
            let was = try #require(recorded[name])
            let got = try #require(now[name])
            #expect(got.k == was.k, "\(name)")
            #expect(got.groups == was.groups, "\(name)")
            #expect(got.representative == was.representative, "\(name)")
            #expect(got.consensusAgree == was.consensusAgree, "\(name)")
            #expect(got.consensusDisagree == was.consensusDisagree, "\(name)")
            #expect(got.silhouettes.count == was.silhouettes.count, "\(name)")
            for (a, b) in zip(got.silhouettes, was.silhouettes) { #expect(abs(a - b) < 1e-7, "\(name) silhouette") }
            var worst = 0.0
            for (a, b) in zip(got.components, was.components) {
                for (x, y) in zip(a, b) { worst = max(worst, abs(x - y)) }
            }
            for (a, b) in zip(got.xs + got.ys, was.xs + was.ys) { worst = max(worst, abs(a - b)) }
            #expect(worst < 1e-7, "\(name): components and positions differ by up to \(worst)")
        }
    }
}
