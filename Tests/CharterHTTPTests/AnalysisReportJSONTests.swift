import CharterMath
import CharterServices
import Foundation
import Testing

/// `charter analyze --json` writes the participants by hand (millions of them at issue 18's
/// sizes); the bytes must be the encoder's.
@Suite struct AnalysisReportJSONTests {
    @Test func theFastJSONIsTheEncodersJSON() throws {
        var votes: [AnalysisVote] = []
        for p in 0..<60 {
            for s in 0..<12 where (p + s) % 5 != 0 {
                votes.append(
                    AnalysisVote(participant: Int64(p), statement: Int64(s), value: Int8((p * 7 + s * 3) % 3 - 1)))
            }
        }
        let (result, timings) = Analyzer.analyze(votes: votes)
        let sources: [Int64: String] = [0: "a/b \"quoted\" \\ tab\t", 1: "ünï\u{01}", 5: "plain"]
        let report = AnalysisReport(result, participantSources: sources, timings: timings)
        let fast = try report.jsonData()
        let plain = try AnalysisReport.encoder.encode(report)
        #expect(String(decoding: fast, as: UTF8.self) == String(decoding: plain, as: UTF8.self))
    }
}
