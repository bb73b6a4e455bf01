import CharterDomain
import CharterHTTP
import CharterSQLite
import CharterServices
import CharterStore
import CharterTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@testable import CharterPostgres

/// `migrate-store`: every table copied, into an empty database only, and the copy serves what
/// the original served.
@Suite struct MigrateStoreTests {
    /// A table a migration adds must be copied (or named as rebuilt by the target): otherwise
    /// migrating loses it. This fails the day someone adds one and forgets.
    @Test func everyTableOfEitherBackEndIsCopiedOrRebuilt() async throws {
        let database = try TemporaryDatabase()
        let sqliteTables = Set(try await SQLiteTableSource(try database.open()).dataTables())
        let known = Set(StoreTables.copied + StoreTables.rebuilt)
        #expect(sqliteTables.subtracting(known).sorted() == [], "SQLite tables migrate-store does not copy")
        #expect(known.subtracting(sqliteTables).sorted() == [], "tables migrate-store names that SQLite lacks")

        let store = try await PostgresTestServer.store()
        let postgresTables = try await store.readOne { sql in
            Set(
                try await sql.values(
                    String.self,
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"))
        }
        await PostgresTestServer.drop(store)
        #expect(
            postgresTables.subtracting(known).subtracting(["charter_migration"]).sorted() == [],
            "PostgreSQL tables migrate-store does not copy")
        #expect(known.subtracting(postgresTables).sorted() == [], "tables PostgreSQL lacks")
    }

    @Test func aSQLiteDatabaseArrivesWholeAndServesTheSame() async throws {
        let database = try TemporaryDatabase()
        let source = try database.open()
        let fixture = try await Self.populate(source)
        let target = try await PostgresTestServer.store()
        do {
            let report = try await target.copyEverything(from: try SQLiteTableSource(source), batchRows: 500)
            #expect(report.sourceRows == report.targetRows)
            #expect((report.sourceRows["vote_event"] ?? 0) > 1000)
            // Every table holds something, so a column that does not copy shows.
            #expect(report.sourceRows.filter { $0.value == 0 }.keys.sorted() == [], "\(report.sourceRows)")

            // The same answers through the store…
            let sourceCounts = try await source.counts()
            let targetCounts = try await target.counts()
            #expect(sourceCounts == targetCounts)
            for conversation in try await source.conversations() {
                let copied = try await target.conversation(id: conversation.id)
                #expect(copied?.settings == conversation.settings)
                // SQLite keeps milliseconds as text, PostgreSQL microseconds: the same instant
                // may come back one floating-point step apart.
                let drift = copied.map { abs($0.createdAt.timeIntervalSince(conversation.createdAt)) }
                #expect(drift.map { $0 < 0.001 } == true)
                let sourceVotes = try await source.voteEvents(conversationID: conversation.id)
                let targetVotes = try await target.voteEvents(conversationID: conversation.id)
                #expect(targetVotes.map(\.value) == sourceVotes.map(\.value))
                #expect(targetVotes.map(\.participantID) == sourceVotes.map(\.participantID))
                let sourceConstitutions = try await source.constitutions(conversationID: conversation.id)
                let targetConstitutions = try await target.constitutions(conversationID: conversation.id)
                #expect(targetConstitutions.map(\.sha256) == sourceConstitutions.map(\.sha256))
                #expect(targetConstitutions.map(\.body) == sourceConstitutions.map(\.body))
            }
            let sourceRun = try await source.run(id: fixture.runID)
            let targetRun = try await target.run(id: fixture.runID)
            #expect(targetRun?.state == .succeeded && targetRun?.results == sourceRun?.results)

            // …and through the API, with each store behind its own application.
            for path in [
                "/api/v1/conversations", "/api/v1/conversations/demo",
                "/api/v1/conversations/demo/statements?limit=500",
                "/api/v1/conversations/seattle/statements?limit=500", "/api/v1/conversations/demo/constitutions",
                "/api/v1/constitutions/\(fixture.constitutionID)", "/api/v1/runs", "/api/v1/runs/\(fixture.runID)",
                "/api/v1/conversations/demo/audit", "/api/v1/audit", "/api/v1/conversations/demo/demographics",
            ] {
                let original = try await Self.get(path, from: source, token: fixture.token)
                let copy = try await Self.get(path, from: target, token: fixture.token)
                #expect(original.status == .ok, "\(path): \(original.status) \(original.body)")
                #expect(copy.status == original.status, "\(path)")
                #expect(copy.body == original.body, "\(path) differs after migrating")
            }

            // The Polis export (a zip, whose entries carry the time they were made) holds the same files.
            for conversation in try await source.conversations() {
                let original = try await ConversationExport.polisFiles(conversation: conversation, store: source)
                let copy = try await ConversationExport.polisFiles(conversation: conversation, store: target)
                #expect(copy == original, "the Polis export of \(conversation.slug) differs after migrating")
            }

            // New rows continue after the copied ids.
            let next = try await target.createConversation(
                ConversationSettings(slug: "after", title: "After", question: "Next?"), by: .system)
            #expect(next.id > fixture.conversationIDs.max() ?? 0)

            // A second copy into the same (now full) database is refused and changes nothing.
            await #expect(throws: StoreCopyRefused.self) {
                try await target.copyEverything(from: try SQLiteTableSource(source))
            }
            let after = try await target.counts()
            #expect(after.votes == sourceCounts.votes)
        } catch {
            await PostgresTestServer.drop(target)
            throw error
        }
        await PostgresTestServer.drop(target)
    }

    struct Populated {
        var token: String
        var constitutionID: Int64
        var runID: Int64
        var conversationIDs: [Int64]
    }

    /// The demo conversation with votes, a real Polis conversation imported, a published
    /// constitution, a finished run, an organiser with a token.
    static func populate(_ store: SQLiteStore) async throws -> Populated {
        let demo = try await store.createConversation(
            ConversationSettings(slug: "demo", title: "Demo", question: "How should an AI behave?", xidPolicy: .open),
            by: .system)
        let seeds = try await store.addSeedStatements(
            conversationID: demo.id, texts: (1...12).map { "Demo statement number \($0)" }, by: .system
        ).added
        for person in 0..<40 {
            for statement in seeds.prefix(8) {
                _ = try await store.castVote(
                    conversationID: demo.id, participant: .anonymous("p\(person)"), statementID: statement.id,
                    value: [.agree, .disagree, .pass][(person + Int(statement.id)) % 3], at: Date())
            }
        }
        _ = try await store.moderate(
            statementIDs: [seeds[11].id], conversationID: demo.id, action: .reject(reason: "off topic"), by: .system)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
                "shared/polis-opendata/15-per-hour-seattle")
        func file(_ name: String) -> String? {
            try? String(contentsOf: root.appendingPathComponent(name), encoding: .utf8)
        }
        let export = try PolisExport.parse(
            participantsVotes: try #require(file("participants-votes.csv")), comments: file("comments.csv"),
            votes: file("votes.csv"), summary: file("summary.csv"))
        let imported = try await store.importPolis(
            export, settings: export.conversationSettings(slug: "seattle", fallbackTitle: "Seattle"), by: .system)
        let organiser = try await store.createOrganiser(email: "owner@example.org", passwordHash: "x")
        let token = SecureToken.make(prefix: "co_")
        try await store.storeAPIToken(organiserID: organiser.id, tokenHash: SecureToken.digest(token), label: "test")
        let constitutionID = try await Fixtures.publishConstitution(in: store, conversationID: demo.id)
        let run = try await store.createRun(
            NewComparisonRun(
                ccaiConstitutionID: constitutionID, baselineSource: "charter-baseline", baselineBody: Data("{}".utf8),
                baselineSHA256: "00", profile: .smoke, seed: 7, parameters: [:], pipelineCommand: "scripts/pipeline/run"
            ),
            by: Actor(organiser))
        _ = try await store.updateRun(
            id: run.id, expecting: [.queued], RunChange(state: .running, startedAt: Date(), ownerPID: 1), by: nil)
        _ = try await store.updateRun(
            id: run.id, expecting: [.running],
            RunChange(state: .succeeded, finishedAt: Date(), results: Data(#"{"arms":{}}"#.utf8)),
            by: Actor(organiser))
        _ = try await store.settingInsertingIfAbsent("example", value: "kept")
        try await store.storeSession(organiserID: organiser.id, tokenHash: "session", expiresAt: Date() + 3600)
        try await store.setPrincipleWording(
            conversationID: demo.id, statementID: seeds[0].id, text: "Choose the honest answer.", by: .system)
        try await store.setPrincipleGrouping(
            conversationID: demo.id, statementID: seeds[2].id, grouping: .merge(into: seeds[1].id), by: .system)
        _ = try await store.bindXID(conversationID: demo.id, xid: "panel-1", binder: "browser-1")
        try await store.setAllowedXIDs(conversationID: demo.id, xids: ["panel-1", "panel-2"], by: .system)
        try await store.setMembership(conversationID: demo.id, organiserID: organiser.id, role: .owner, by: .system)
        let someone = try await store.participant(conversationID: demo.id, identity: .anonymous("p1"))
        try await store.recordParticipantOrigin(participantID: someone.id, addressKey: "key")
        // Demographic questions with targets, and a participant's answers.
        _ = try await store.setDemographics(
            conversationID: demo.id,
            DemographicsSettings(
                questions: [
                    DemographicQuestion(
                        key: "age", text: ["en": "How old are you?", "de": "Wie alt sind Sie?"],
                        options: [
                            DemographicOption(key: "18-39", label: ["en": "18 to 39"]),
                            DemographicOption(key: "40-plus", label: ["en": "40 or older"]),
                        ], targets: ["18-39": 0.45, "40-plus": 0.55])
                ], afterVotes: 3, consent: "Consent."), by: .system)
        _ = try await store.recordDemographicResponse(
            conversationID: demo.id, participant: .anonymous("p2"), answers: ["age": "40-plus"], at: Date())
        try await store.saveAnalysis(
            StoredAnalysis(
                conversationID: demo.id, computedAt: Date(), voteCount: 320, lastVoteEvent: 320, durationMs: 1.5,
                parameters: "{}", result: Data("{}".utf8), groupCount: 2,
                statementScores: [StatementScore(statementID: seeds[0].id, gac: 0.5, ccai: 0.25, votes: 20)]))
        // A moderator's rewording and a reworded copy, so their columns carry values across.
        let pending = try await store.submitStatement(
            conversationID: demo.id, participant: .anonymous("writer"), text: "Teh first wording", at: Date())
        _ = try await store.rewordStatement(
            id: pending.id, conversationID: demo.id, text: "The first wording", by: .system)
        _ = try await store.addRewordedCopy(
            of: seeds[0].id, conversationID: demo.id, text: "Demo statement number one, reworded", by: .system)
        // A statement's own language and a translation of another, so they carry across too.
        _ = try await store.submitStatement(
            conversationID: demo.id, participant: .anonymous("writer"), text: "Die KI soll ehrlich sein.",
            language: "de", at: Date())
        _ = try await store.setTranslation(
            statementID: seeds[0].id, conversationID: demo.id, language: "de", text: "Demo-Aussage Nummer eins",
            by: .system)
        return Populated(
            token: token, constitutionID: constitutionID, runID: run.id,
            conversationIDs: [demo.id, imported.conversation.id])
    }

    static func get(_ path: String, from store: any CharterStore, token: String) async throws
        -> (status: HTTPResponse.Status, body: String)
    {
        var configuration = HTTPConfiguration()
        configuration.rateLimits = .unlimited
        let router = try await buildRouter(store: store, configuration: configuration, secret: "test-secret")
        let app = Application(router: router)
        return try await app.test(.router) { client in
            try await client.execute(
                uri: path, method: .get, headers: [.authorization: "Bearer \(token)"]
            ) { response in
                (response.status, String(buffer: response.body))
            }
        }
    }
}
