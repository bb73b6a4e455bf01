import CharterDomain
import CharterHTTP
import CharterSQLite
import CharterServices
import CharterStore
import CharterTestSupport
import Foundation
import Testing

/// Import a real Polis export, export it again, import that: the same conversation comes back.
@Suite struct PolisRoundTripTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/polis-opendata")

    static let conversations = [
        "15-per-hour-seattle", "american-assembly.bowling-green", "austria-climate.2vkxcncppn.2022-07-07",
        "austria-climate.7z7ejpbmv5.2022-08-08", "bg2050-volunteers", "brexit-consensus", "football-concussions",
        "london.youth.policing", "scoop-hivemind.affordable-housing", "scoop-hivemind.biodiversity",
        "scoop-hivemind.freshwater", "scoop-hivemind.taxes", "scoop-hivemind.ubi", "vtaiwan.uberx",
    ]

    static func read(_ folder: URL) throws -> PolisExport {
        func file(_ name: String) -> String? {
            try? String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
        }
        return try PolisExport.parse(
            participantsVotes: try #require(file("participants-votes.csv")), comments: file("comments.csv"),
            votes: file("votes.csv"), summary: file("summary.csv"))
    }

    struct Cell: Hashable {
        let participant: Int64
        let comment: Int64
        let value: Int8
    }

    @Test(arguments: conversations) func anExportImportsBackToTheSameConversation(_ name: String) async throws {
        let original = try Self.read(Self.root.appendingPathComponent(name))
        let first = try TemporaryDatabase()
        let store = try first.open()
        let imported = try await store.importPolis(
            original, settings: original.conversationSettings(slug: "original", fallbackTitle: name), by: .system)

        let files = try await ConversationExport.polisFiles(conversation: imported.conversation, store: store)
        let exported = try PolisExport.parse(
            participantsVotes: try #require(files["participants-votes.csv"]), comments: files["comments.csv"],
            votes: files["votes.csv"], summary: files["summary.csv"])

        // The final votes, the comments and their moderation come back with their Polis ids.
        let originalCells = Set(
            original.votes.map { Cell(participant: $0.participant, comment: $0.comment, value: $0.value) })
        #expect(
            Set(exported.votes.map { Cell(participant: $0.participant, comment: $0.comment, value: $0.value) })
                == originalCells)
        let exportedComments = Dictionary(uniqueKeysWithValues: exported.comments.map { ($0.id, $0) })
        for comment in original.comments {
            let back = try #require(exportedComments[comment.id])
            #expect(
                back.text == comment.text.trimmingCharacters(in: .whitespacesAndNewlines) || back.text == comment.text)
            #expect(back.moderated == comment.moderated && back.isMeta == comment.isMeta)
        }

        // Importing the export gives the same votes again.
        let second = try TemporaryDatabase()
        let again = try second.open()
        let reimported = try await again.importPolis(
            exported, settings: exported.conversationSettings(slug: "again", fallbackTitle: name), by: .system)
        #expect(reimported.votesAdded == original.votes.count)
        let sources = try await again.sourceIDs(conversationID: reimported.conversation.id)
        let snapshot = try await again.analysisSnapshot(conversationID: reimported.conversation.id)
        var cells = Set<Cell>()
        for i in snapshot.values.indices {
            cells.insert(
                Cell(
                    participant: Int64(sources.participants[snapshot.participants[i]]!)!,
                    comment: Int64(sources.statements[snapshot.statements[i]]!)!, value: snapshot.values[i]))
        }
        #expect(cells == originalCells)
    }
}
