import CharterDomain
import CharterSQLite
import CharterStore
import CharterTestSupport
import Foundation
import Testing

@Suite struct ImportAndAnalysisStoreTests {
    static let export = PolisExport(
        topic: "Bikes", description: "A small test export",
        comments: [
            .init(
                id: 0, authorID: 7, text: "More bike lanes", moderated: 1, isMeta: false, isSeed: true,
                groupInformedConsensus: nil, timestamp: 1_700_000_000_000),
            .init(
                id: 1, authorID: 8, text: "more BIKE lanes", moderated: 0, isMeta: false, isSeed: false,
                groupInformedConsensus: nil, timestamp: nil),
            .init(
                id: 2, authorID: nil, text: "Spam", moderated: -1, isMeta: false, isSeed: false,
                groupInformedConsensus: nil, timestamp: nil),
            .init(
                id: 3, authorID: nil, text: "Is this on?", moderated: 1, isMeta: true, isSeed: false,
                groupInformedConsensus: nil, timestamp: nil),
        ],
        participants: [.init(id: 7, xid: "panel-7", groupID: 0), .init(id: 8, xid: nil, groupID: 1)],
        votes: [
            .init(participant: 7, comment: 0, value: 1), .init(participant: 7, comment: 1, value: -1),
            .init(participant: 8, comment: 0, value: 0), .init(participant: 8, comment: 2, value: 1),
        ])

    @Test func importingIsIdempotentAndKeepsSourceIDs() async throws {
        let database = try TemporaryDatabase()
        let store = try database.open()
        let settings = Self.export.conversationSettings(slug: "bikes", fallbackTitle: "bikes")
        let first = try await store.importPolis(Self.export, settings: settings, by: .system)
        #expect(first.createdConversation)
        #expect(first.statementsAdded == 4 && first.participantsAdded == 2 && first.votesAdded == 4)
        #expect(first.conversation.settings.state == .closed && first.conversation.settings.title == "Bikes")
        let snapshot = try store.snapshot()
        let second = try await store.importPolis(Self.export, settings: settings, by: .system)
        #expect(
            !second.createdConversation && second.statementsAdded + second.participantsAdded + second.votesAdded == 0)
        #expect(try store.snapshot() == snapshot)

        let sources = try await store.sourceIDs(conversationID: first.conversation.id)
        #expect(Set(sources.statements.values) == ["0", "1", "2", "3"])
        #expect(Set(sources.participants.values) == ["7", "8"])
        let statements = try await store.statements(conversationID: first.conversation.id, filter: .init())
        #expect(statements.items.map(\.moderation) == [.accepted, .pending, .rejected, .accepted])
        #expect(statements.items.map(\.isMeta) == [false, false, false, true])
        #expect(statements.items[1].text == "more BIKE lanes", "a duplicate text keeps its own statement")
        let panel = try await store.existingParticipant(
            conversationID: first.conversation.id, identity: .external("panel-7"))
        #expect(panel != nil)

        // A changed final vote is a new event; everything else stays.
        var changed = Self.export
        changed.votes[0].value = -1
        let third = try await store.importPolis(changed, settings: settings, by: .system)
        #expect(third.votesAdded == 1)
        let events = try await store.voteEvents(conversationID: first.conversation.id)
        #expect(events.count == 5)
    }

    @Test func analysesAreStoredWithWhatTheySaw() async throws {
        let database = try TemporaryDatabase()
        let store = try database.open()
        let summary = try await store.importPolis(
            Self.export, settings: Self.export.conversationSettings(slug: "bikes", fallbackTitle: "b"), by: .system)
        let id = summary.conversation.id
        let snapshot = try await store.analysisSnapshot(conversationID: id)
        #expect(snapshot.values.count == 4)
        #expect(snapshot.rejected.count == 1 && snapshot.meta.count == 1)
        let last = try await store.lastVoteEvent(conversationID: id)
        #expect(snapshot.lastVoteEvent == last && last > 0)
        #expect(try await store.latestAnalysis(conversationID: id) == nil)
        let stored = StoredAnalysis(
            conversationID: id, computedAt: Date(timeIntervalSince1970: 1_000), voteCount: 4, lastVoteEvent: last,
            durationMs: 1.5, parameters: "{}", result: Data("{\"k\":2}".utf8))
        try await store.saveAnalysis(stored)
        var newer = stored
        newer.computedAt = Date(timeIntervalSince1970: 2_000)
        try await store.saveAnalysis(newer)
        #expect(try await store.latestAnalysis(conversationID: id) == newer)
    }
}
