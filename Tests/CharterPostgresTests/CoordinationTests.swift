import CharterDomain
import CharterStore
import Foundation
import Synchronization
import Testing

@testable import CharterPostgres

/// Several servers on one database: one leads the analysis at a time, another takes over when
/// it goes, and every server hears of every change.
@Suite struct CoordinationTests {
    final class Heard: Sendable {
        let leading = Mutex(false)
        let changed = Mutex(Set<Int64>())
        let analysed = Mutex(Set<Int64>())
    }

    static func coordinate(_ store: PostgresStore, _ heard: Heard) -> Task<Void, Never> {
        Task {
            await store.coordinate(
                leading: { value in heard.leading.withLock { $0 = value } },
                changed: { id in heard.changed.withLock { _ = $0.insert(id) } },
                analysed: { id in heard.analysed.withLock { _ = $0.insert(id) } }, retry: .milliseconds(100))
        }
    }

    static func eventually(_ condition: () -> Bool, within seconds: Double = 10) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    @Test func oneServerLeadsAndAnotherTakesOverWhenItGoes() async throws {
        let first = try await PostgresTestServer.store()
        let schema = try await first.readOne { sql in try await sql.value(String.self, "SELECT current_schema()") }
        let second = try await PostgresStore(url: PostgresTestServer.url.get(), schema: schema, maximumConnections: 4)
        let (a, b) = (Heard(), Heard())
        let taskA = Self.coordinate(first, a)
        let taskB = Self.coordinate(second, b)

        let oneLeads = await Self.eventually {
            a.leading.withLock { $0 } != b.leading.withLock { $0 }
        }
        #expect(oneLeads)
        // Stays so: the other keeps trying and keeps failing.
        try await Task.sleep(for: .milliseconds(400))
        let leaders = [a, b].filter { $0.leading.withLock { $0 } }.count
        #expect(leaders == 1)

        // Changes made through either server are heard by both.
        let conversation = try await second.createConversation(
            ConversationSettings(slug: "heard", title: "Heard", question: "Q?", xidPolicy: .open), by: .system)
        let statement = try #require(
            try await second.addSeedStatements(conversationID: conversation.id, texts: ["A statement"], by: .system)
                .added.first)
        _ = try await first.castVote(
            conversationID: conversation.id, participant: .anonymous("x"), statementID: statement.id, value: .agree,
            at: Date())
        try await first.saveAnalysis(
            StoredAnalysis(
                conversationID: conversation.id, computedAt: Date(), voteCount: 1, lastVoteEvent: 1, durationMs: 1,
                parameters: "{}", result: Data("{}".utf8)))
        let bothHeard = await Self.eventually {
            [a, b].allSatisfy {
                $0.changed.withLock { $0.contains(conversation.id) }
                    && $0.analysed.withLock { $0.contains(conversation.id) }
            }
        }
        #expect(bothHeard)

        // The leader goes: the other leads within a few retries.
        let (leader, follower, leaderTask) = a.leading.withLock { $0 } ? (a, b, taskA) : (b, a, taskB)
        leaderTask.cancel()
        _ = await leaderTask.value
        #expect(leader.leading.withLock { $0 } == false)
        let tookOver = await Self.eventually { follower.leading.withLock { $0 } }
        #expect(tookOver)

        taskA.cancel()
        taskB.cancel()
        _ = await taskA.value
        _ = await taskB.value
        await second.close()
        await PostgresTestServer.drop(first)
    }
}
