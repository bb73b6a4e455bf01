import CharterDomain
import CharterMath
import Foundation

/// The real Polis conversations in `../shared/polis-opendata/`, read in place.
enum PolisData {
    static let folder: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.deletingLastPathComponent().appendingPathComponent("shared/polis-opendata")
    }()

    static let conversations = [
        "vtaiwan.uberx", "scoop-hivemind.biodiversity", "scoop-hivemind.taxes", "bg2050-volunteers",
        "austria-climate.2vkxcncppn.2022-07-07", "austria-climate.7z7ejpbmv5.2022-08-08", "15-per-hour-seattle",
        "brexit-consensus", "american-assembly.bowling-green", "football-concussions", "scoop-hivemind.freshwater",
        "scoop-hivemind.affordable-housing", "scoop-hivemind.ubi", "london.youth.policing",
    ]

    static func load(_ name: String) throws -> PolisExport {
        let dir = folder.appendingPathComponent(name)
        func read(_ file: String) -> String? {
            try? String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
        }
        guard let matrix = read("participants-votes.csv") else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: dir.path])
        }
        return try PolisExport.parse(
            participantsVotes: matrix, comments: read("comments.csv"), summary: read("summary.csv"))
    }

    static func analysisInput(_ export: PolisExport) -> (votes: [AnalysisVote], moderatedOut: Set<Int64>) {
        let votes = export.votes.map {
            AnalysisVote(participant: $0.participant, statement: $0.comment, value: $0.value)
        }
        let modOut = Set(export.comments.filter { $0.moderated == -1 || $0.isMeta }.map(\.id))
        return (votes, modOut)
    }
}

/// The adjusted Rand index of two labelings of the same items.
func adjustedRandIndex(_ a: [Int], _ b: [Int]) -> Double {
    precondition(a.count == b.count)
    var table: [Int: [Int: Int]] = [:]
    var rows: [Int: Int] = [:]
    var columns: [Int: Int] = [:]
    for (x, y) in zip(a, b) {
        table[x, default: [:]][y, default: 0] += 1
        rows[x, default: 0] += 1
        columns[y, default: 0] += 1
    }
    func pairs(_ n: Int) -> Double { Double(n) * Double(n - 1) / 2 }
    let index = table.values.flatMap(\.values).map(pairs).reduce(0, +)
    let rowPairs = rows.values.map(pairs).reduce(0, +)
    let columnPairs = columns.values.map(pairs).reduce(0, +)
    let expected = rowPairs * columnPairs / pairs(a.count)
    let maximum = (rowPairs + columnPairs) / 2
    return maximum == expected ? 1 : (index - expected) / (maximum - expected)
}
