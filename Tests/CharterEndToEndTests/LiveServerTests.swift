import CharterDomain
import CharterHTTP
import CharterSQLite
import CharterStore
import CharterTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

/// The real server on a loopback port and a database file on disk, driven over HTTP.
@Suite struct LiveServerTests {
    /// Serves `store` on an ephemeral loopback port for the duration of `body`.
    func serve<Value: Sendable>(
        _ store: SQLiteStore, configuration: HTTPConfiguration,
        _ body: @Sendable (any TestClientProtocol) async throws -> Value
    ) async throws -> Value {
        let app = try await buildApplication(
            store: store, configuration: configuration, secret: "live-secret", host: "127.0.0.1", port: 0,
            logger: Logger(label: "live-test"))
        return try await app.test(.live) { client in
            #expect(client.port != nil && client.port != 0)
            return try await body(client)
        }
    }

    @Test func everyAcknowledgedVoteSurvivesARestart() async throws {
        let h = try await Harness.make(conversation: { $0.strictModeration = true })
        let configuration = h.configuration
        let databasePath = h.database.path

        struct FirstRun: Sendable {
            var htmlVotes: [Int64: VoteValue] = [:]
            var apiVotes: [Int64: VoteValue] = [:]
            var submitted: Int64 = 0
        }
        // First run: a participant votes through the HTML forms, another through the API, and an
        // organiser moderates the participant's statement.
        let first = try await serve(try SQLiteStore(path: databasePath), configuration: configuration) { client in
            var run = FirstRun()
            var participant = Browser(client: client)
            var page = try await participant.get("/c/town")
            for value in [VoteValue.agree, .disagree, .pass, .agree] {
                let statement = try #require(page.input("statement").flatMap(Int64.init))
                page = try await participant.post(
                    "/c/town/vote",
                    form: [("csrf", try #require(page.csrf)), ("statement", String(statement)), ("vote", value.name)])
                #expect(page.redirects == [.seeOther] && page.status == .ok)
                run.htmlVotes[statement] = value
            }
            page = try await participant.post(
                "/c/town/statements",
                form: [("csrf", try #require(page.csrf)), ("text", "The AI should say when it is unsure.")])
            #expect(page.path == "/c/town?done=statement-pending")

            let registered = try await client.json(
                .post, "/api/v1/conversations/town/participants", #"{"xid": "panel-1"}"#)
            let auth: HTTPFields = [
                .authorization: "Bearer \(try #require(try registered.decoded()["token"] as? String))"
            ]
            while true {
                let next = try await client.json(.get, "/api/v1/conversations/town/next", headers: auth)
                guard next.status == .ok,
                    let statement = (try next.decoded()["statement"] as? [String: Any])?["id"] as? Int
                else { break }
                let value: VoteValue = statement.isMultiple(of: 2) ? .agree : .disagree
                let vote = try await client.json(
                    .post, "/api/v1/conversations/town/votes",
                    #"{"statement": \#(statement), "vote": "\#(value.name)"}"#,
                    headers: auth)
                #expect(vote.status == .created)
                run.apiVotes[Int64(statement)] = value
            }

            var organiser = Browser(client: client)
            let login = try await organiser.get("/admin/login")
            let home = try await organiser.post(
                "/admin/login",
                form: [("csrf", try #require(login.csrf)), ("email", Harness.email), ("password", Harness.password)])
            #expect(home.path == "/admin")
            let queue = try await organiser.get("/admin/conversations/town/moderation")
            let pending = try #require(queue.firstMatch(#"name="statement" value="(\d+)""#).flatMap(Int64.init))
            let moderated = try await organiser.post(
                "/admin/conversations/town/moderation",
                form: [("csrf", try #require(queue.csrf)), ("single", "accept:\(pending)")])
            #expect(moderated.contains("1 statement updated."))
            run.submitted = pending
            return run
        }
        #expect(first.htmlVotes.count == 4 && first.apiVotes.count == 5)

        // Second run on the same file: everything acknowledged is there, and the server carries on.
        try await serve(try SQLiteStore(path: databasePath), configuration: configuration) { client in
            let store = try SQLiteStore(path: databasePath)
            let conversation = try #require(try await store.conversation(slug: "town"))
            let votes = try await store.votes(conversationID: conversation.id)
            let panel = try #require(
                try await store.existingParticipant(conversationID: conversation.id, identity: .external("panel-1")))
            let byPanel = Dictionary(
                uniqueKeysWithValues: votes.filter { $0.participantID == panel.id }.map { ($0.statementID, $0.value) })
            #expect(byPanel == first.apiVotes)
            let others = votes.filter { $0.participantID != panel.id }
            var expectedHTML = first.htmlVotes
            expectedHTML[first.submitted] = .agree
            #expect(Dictionary(uniqueKeysWithValues: others.map { ($0.statementID, $0.value) }) == expectedHTML)
            let accepted = try await store.statement(id: first.submitted)
            #expect(accepted?.moderation == .accepted)

            let conversationJSON = try await client.json(.get, "/api/v1/conversations/town")
            let statements = try #require(try conversationJSON.decoded()["statements"] as? [[String: Any]])
            #expect(statements.contains { $0["text"] as? String == "The AI should say when it is unsure." })
            let health = try await client.json(.get, "/healthz")
            #expect(try health.decoded()["votes"] as? Int == 10)
        }
    }
}
