import CharterDomain
public import CharterMath
public import CharterStore
import Foundation
public import Logging
public import ServiceLifecycle
import Synchronization

/// Keeps every conversation's analysis fresh in the background. The vote path only marks a
/// conversation as changed; this service recomputes it once the debounce interval has passed,
/// one conversation at a time on its own thread. A conversation whose analysis takes long waits
/// twice that long before its next one, so a huge conversation cannot starve the others.
public final class AnalysisService: Service, Sendable {
    public struct Configuration: Sendable {
        /// The least time between two analyses of one conversation.
        public var debounce: Duration = .seconds(5)
        /// How often the loop looks for due work when nothing wakes it.
        public var poll: Duration = .milliseconds(250)
        public var options = AnalysisOptions()

        public init() {}
    }

    struct State {
        /// Changed conversations and since when.
        var dirty: [Int64: ContinuousClock.Instant] = [:]
        var notBefore: [Int64: ContinuousClock.Instant] = [:]
        var priorities: [Int64: [Int64: Double]] = [:]
        /// Whether this server runs the analysis. Always on SQLite; on a shared database, only
        /// the one server holding the leadership (`ServerCoordination`).
        var leading = true
        /// Set on becoming the leader: the analyses the last leader left undone are found anew.
        var scanForStale = false
        var computed = 0
    }

    let store: any CharterStore
    let configuration: Configuration
    let logger: Logger
    private let state = Mutex(State())
    private let clock = ContinuousClock()
    /// The id of each conversation as its analysis is stored, for whoever waits on one.
    public let analysed: AsyncStream<Int64>
    private let analysedContinuation: AsyncStream<Int64>.Continuation

    public init(store: any CharterStore, configuration: Configuration = Configuration(), logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
        (analysed, analysedContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(64))
    }

    /// Called after votes, statements or moderation change a conversation. Cheap: no I/O.
    public func conversationChanged(_ conversationID: Int64) {
        let now = clock.now
        state.withLock { state in
            if state.dirty[conversationID] == nil { state.dirty[conversationID] = now }
        }
    }

    /// Runs until cancelled or a graceful shutdown, then returns normally: stopping is not a
    /// failure of the service group. Computes only while this server leads.
    public func run() async throws {
        state.withLock { $0.scanForStale = $0.leading }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let (leading, scan) = self.state.withLock { state in
                    defer { state.scanForStale = false }
                    return (state.leading, state.scanForStale)
                }
                if leading, scan {
                    do {
                        try await self.markStaleConversations()
                    } catch {
                        self.state.withLock { $0.scanForStale = true }
                        self.logger.error("cannot look for stale analyses", metadata: ["error": "\(error)"])
                    }
                }
                if leading, let conversationID = self.dueConversation() {
                    await self.analyze(conversationID)
                } else {
                    try? await Task.sleep(for: self.configuration.poll)
                }
            }
        }
    }

    /// Whether this server is to run the analysis (servers sharing a database take turns: see
    /// `ServerCoordination`).
    public func setLeading(_ leading: Bool) {
        state.withLock { state in
            if leading, !state.leading { state.scanForStale = true }
            state.leading = leading
        }
    }

    /// Another server (or this one) stored a new analysis of the conversation: what this server
    /// kept of the old one is dropped, so its next reader gets the new one.
    public func analysisStored(_ conversationID: Int64) {
        state.withLock { _ = $0.priorities.removeValue(forKey: conversationID) }
    }

    /// Whether this server runs the analysis, and how many it has computed since it started.
    public var statistics: (leading: Bool, computed: Int) {
        state.withLock { ($0.leading, $0.computed) }
    }

    /// Conversations whose stored analysis is older than their newest vote.
    public func markStaleConversations() async throws {
        for conversation in try await store.conversations() {
            let last = try await store.lastVoteEvent(conversationID: conversation.id)
            let analysed = try await store.latestAnalysis(conversationID: conversation.id)?.lastVoteEvent ?? -1
            if last > analysed { conversationChanged(conversation.id) }
        }
    }

    /// The changed conversation that has waited longest and whose interval has passed.
    public func dueConversation() -> Int64? {
        let now = clock.now
        return state.withLock { state in
            let due = state.dirty.filter { id, _ in (state.notBefore[id] ?? now) <= now }
            guard let next = due.min(by: { $0.value != $1.value ? $0.value < $1.value : $0.key < $1.key })?.key else {
                return nil
            }
            state.dirty[next] = nil
            return next
        }
    }

    /// Recomputes one conversation now and caches its routing priorities.
    @discardableResult
    public func analyze(_ conversationID: Int64) async -> AnalysisResult? {
        let started = clock.now
        do {
            let (result, timings) = try await ConversationAnalysis.run(
                conversationID: conversationID, store: store, options: configuration.options)
            let took = clock.now - started
            state.withLock { state in
                state.notBefore[conversationID] = clock.now + max(configuration.debounce, took * 2)
                state.priorities[conversationID] = Self.priorities(of: result)
                state.computed += 1
            }
            analysedContinuation.yield(conversationID)
            logger.debug(
                "analysis done",
                metadata: [
                    "conversation": "\(conversationID)", "votes": "\(result.voteCount)", "k": "\(result.k)",
                    "ms": "\(Int(timings.total))",
                ])
            return result
        } catch {
            state.withLock { $0.notBefore[conversationID] = clock.now + configuration.debounce }
            logger.error("analysis failed", metadata: ["conversation": "\(conversationID)", "error": "\(error)"])
            return nil
        }
    }

    /// The routing priority of each statement of the conversation's latest analysis.
    public func priorities(of conversationID: Int64) async -> [Int64: Double] {
        if let cached = state.withLock({ $0.priorities[conversationID] }) { return cached }
        guard let stored = try? await store.latestAnalysis(conversationID: conversationID),
            let result = try? ConversationAnalysis.decode(stored)
        else { return [:] }
        let priorities = Self.priorities(of: result)
        state.withLock { $0.priorities[conversationID] = priorities }
        return priorities
    }

    static func priorities(of result: AnalysisResult) -> [Int64: Double] {
        Dictionary(uniqueKeysWithValues: result.statements.map { ($0.id, $0.priority) })
    }
}
