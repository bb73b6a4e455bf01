public import CharterMath
public import CharterStore
import Dispatch
import Foundation

/// Runs the analysis of one conversation from the store: reads a snapshot, warm-starts from
/// the stored previous result, computes off the request threads, and stores the result.
public enum ConversationAnalysis {
    /// CPU-bound work runs here rather than on Swift's cooperative pool, so an analysis never
    /// takes a thread the HTTP server needs.
    static let queue = DispatchQueue(label: "charter.analysis", qos: .utility)

    public static func input(_ snapshot: AnalysisSnapshot) -> (votes: [AnalysisVote], moderatedOut: Set<Int64>) {
        var votes: [AnalysisVote] = []
        votes.reserveCapacity(snapshot.values.count)
        for i in snapshot.values.indices {
            votes.append(
                AnalysisVote(
                    participant: snapshot.participants[i], statement: snapshot.statements[i], value: snapshot.values[i])
            )
        }
        return (votes, snapshot.rejected.union(snapshot.meta))
    }

    public static func decode(_ stored: StoredAnalysis) throws -> AnalysisResult {
        try JSONDecoder().decode(AnalysisResult.self, from: stored.result)
    }

    /// Computes and stores a fresh analysis; returns it with its timings.
    @discardableResult
    public static func run(
        conversationID: Int64, store: any CharterStore, warmStart: Bool = true,
        options: AnalysisOptions = AnalysisOptions()
    ) async throws -> (result: AnalysisResult, timings: AnalysisTimings) {
        let clock = ContinuousClock()
        let readStarted = clock.now
        var snapshot = try await store.analysisSnapshot(conversationID: conversationID)
        let read = clock.now - readStarted
        var stored: StoredAnalysis?
        if warmStart { stored = try await store.latestAnalysis(conversationID: conversationID) }
        let previous = stored.flatMap { try? decode($0).state }
        // The snapshot's columns go to the analysis as they are (no per-vote copy), and the
        // snapshot lets go of them so that the analysis can free them once its matrix is built.
        let columns = VoteColumns(
            participants: snapshot.participants, statements: snapshot.statements, values: snapshot.values)
        (snapshot.participants, snapshot.statements, snapshot.values) = ([], [], [])
        let moderatedOut = snapshot.rejected.union(snapshot.meta)
        let meta = snapshot.meta
        let lastVoteEvent = snapshot.lastVoteEvent
        let (result, timings, encoded) = try await withCheckedThrowingContinuation { continuation in
            queue.async {
                let (result, analysisTimings) = Analyzer.analyze(
                    columns: columns, moderatedOut: moderatedOut, meta: meta, previous: previous, options: options)
                var timings = analysisTimings
                timings.read = Double(read.components.seconds) * 1000 + Double(read.components.attoseconds) / 1e15
                do {
                    continuation.resume(returning: (result, timings, try JSONEncoder().encode(result)))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
        let parameters = String(decoding: try JSONEncoder().encode(options), as: UTF8.self)
        try await store.saveAnalysis(
            StoredAnalysis(
                conversationID: conversationID, computedAt: Date(), voteCount: result.voteCount,
                lastVoteEvent: lastVoteEvent, durationMs: timings.total, parameters: parameters,
                result: encoded, groupCount: result.k,
                statementScores: result.statements.filter { !$0.moderatedOut }.map {
                    StatementScore(statementID: $0.id, gac: $0.gac, ccai: $0.ccaiAgreeProduct, votes: $0.votes)
                }))
        return (result, timings)
    }
}
