import CharterDomain
import CharterMath
import Foundation
import Testing

/// Charter's analysis against Polis' own output on real conversations (analysis-spec.md §10).
@Suite struct PolisConformanceTests {
    @Test func groupAwareConsensusMatchesPolisExactly() throws {
        let export = try PolisData.load("bg2050-volunteers")
        var groupOf: [Int64: Int] = [:]
        for p in export.participants { if let g = p.groupID { groupOf[p.id] = g } }
        let groupCount = Set(groupOf.values).count
        #expect(groupCount == 2)
        var counts: [Int64: [(agree: Int, votes: Int)]] = [:]
        for vote in export.votes {
            guard let g = groupOf[vote.participant] else { continue }
            var perGroup = counts[vote.comment] ?? Array(repeating: (0, 0), count: groupCount)
            perGroup[g].votes += 1
            if vote.value == 1 { perGroup[g].agree += 1 }
            counts[vote.comment] = perGroup
        }
        var checked = 0
        for comment in export.comments {
            let expected = try #require(comment.groupInformedConsensus)
            let perGroup = counts[comment.id] ?? Array(repeating: (0, 0), count: groupCount)
            let gac = PolisStatistics.groupAwareConsensus(perGroup)
            #expect(abs(gac - expected) <= 1e-12, "comment \(comment.id): \(gac) vs Polis \(expected)")
            checked += 1
        }
        #expect(checked == 371)
    }

    @Test(arguments: ["bg2050-volunteers", "vtaiwan.uberx", "scoop-hivemind.biodiversity", "brexit-consensus"])
    func componentsMatchAnSVDOfTheImputedMatrix(_ name: String) throws {
        let export = try PolisData.load(name)
        let input = PolisData.analysisInput(export)
        let (result, _) = Analyzer.analyze(votes: input.votes, moderatedOut: input.moderatedOut)
        let reference = try NumpyReference.components(conversation: PolisData.folder.appendingPathComponent(name).path)
        #expect(reference.statements == result.statementOrder)
        for c in 0..<2 {
            let ours = result.components[c]
            let theirs = reference.components[c]
            var dot = 0.0
            var a = 0.0
            var b = 0.0
            for j in ours.indices {
                dot += ours[j] * theirs[j]
                a += ours[j] * ours[j]
                b += theirs[j] * theirs[j]
            }
            let cosine = abs(dot) / (a * b).squareRoot()
            #expect(cosine > 0.999999, "\(name) component \(c + 1): |cos| = \(cosine)")
        }
        for j in result.center.indices {
            #expect(abs(result.center[j] - reference.center[j]) < 1e-12)
        }
    }

    /// The figures of spec §10 for a faithful cold start.
    static let specARI: [String: Double] = [
        "vtaiwan.uberx": 0.919, "scoop-hivemind.biodiversity": 0.966, "scoop-hivemind.taxes": 0.813,
        "bg2050-volunteers": 1.000, "austria-climate.2vkxcncppn.2022-07-07": 0.847,
        "austria-climate.7z7ejpbmv5.2022-08-08": 0.796, "15-per-hour-seattle": 0.563, "brexit-consensus": 0.552,
        "american-assembly.bowling-green": 0.252, "football-concussions": 0.117, "scoop-hivemind.freshwater": 0.132,
        "scoop-hivemind.affordable-housing": 0.073, "scoop-hivemind.ubi": 0.061, "london.youth.policing": -0.019,
    ]

    @Test func coldAnalysesAgreeWithPolisGroups() throws {
        var table = [
            "| conversation | ARI | spec ARI | k | Polis k | participants ≥7 votes | ms |",
            "|---|---|---|---|---|---|---|",
        ]
        for name in PolisData.conversations {
            let export = try PolisData.load(name)
            let input = PolisData.analysisInput(export)
            let (result, timings) = Analyzer.analyze(votes: input.votes, moderatedOut: input.moderatedOut)
            var polisGroup: [Int64: Int] = [:]
            for p in export.participants { if let g = p.groupID { polisGroup[p.id] = g } }
            var ours: [Int] = []
            var theirs: [Int] = []
            for p in result.participants where p.voteCount >= 7 {
                guard let g = polisGroup[p.id] else { continue }
                ours.append(p.group ?? -1)
                theirs.append(g)
            }
            let ari = adjustedRandIndex(ours, theirs)
            let expected = try #require(Self.specARI[name])
            table.append(
                "| \(name) | \(String(format: "%.3f", ari)) | \(String(format: "%.3f", expected)) | \(result.k) | "
                    + "\(Set(polisGroup.values).count) | \(ours.count) | \(Int(timings.total)) |")
            #expect(ari >= expected - 0.01, "\(name): ARI \(ari) is below the spec's \(expected)")
        }
        print(table.joined(separator: "\n"))
    }

    @Test func theSameVotesGiveIdenticalBytes() throws {
        let export = try PolisData.load("scoop-hivemind.taxes")
        let input = PolisData.analysisInput(export)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let first = try encoder.encode(Analyzer.analyze(votes: input.votes, moderatedOut: input.moderatedOut).result)
        let second = try encoder.encode(
            Analyzer.analyze(votes: input.votes.shuffled(), moderatedOut: input.moderatedOut).result)
        #expect(first == second)
    }
}

/// Runs `scripts/analysis/pca_reference.py` (numpy) on a conversation folder.
enum NumpyReference {
    struct Output: Decodable {
        let statements: [Int64]
        let center: [Double]
        let components: [[Double]]
    }

    static func components(conversation: String) throws -> Output {
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", root.appendingPathComponent("scripts/analysis/pca_reference.py").path, conversation,
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "pca_reference.py failed"])
        }
        return try JSONDecoder().decode(Output.self, from: data)
    }
}
