import CharterDomain
import CharterHTTP
import CharterStore
import CharterTestSupport
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite struct ResilienceTests {
    @Test func aFullDiskAnswers503AndChangesNothingUntilSpaceReturns() async throws {
        let h = try await Harness.make()
        let statements = try await h.store.addSeedStatements(
            conversationID: h.conversation.id, texts: (0..<300).map { "Statement number \($0) for a full disk." },
            by: .system
        ).added.map(\.id)
        try await h.test { client in
            let registered = try await client.json(.post, "/api/v1/conversations/town/participants", "{}")
            let token = try #require(try registered.decoded()["token"] as? String)
            let auth: HTTPFields = [.authorization: "Bearer \(token)"]
            var browser = Browser(client: client)
            let page = try await browser.get("/c/town")
            let statement = try #require(page.input("statement"))

            try await h.store.pool.writeWithoutTransaction { db in
                let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
                try db.execute(sql: "PRAGMA max_page_count = \(pages)")
            }
            // Enough votes that the WAL must grow past what the file may hold.
            var unavailable = 0
            for sid in statements {
                let vote = try await client.json(
                    .post, "/api/v1/conversations/town/votes",
                    #"{"statement": \#(sid), "vote": "agree"}"#,
                    headers: auth)
                if vote.status == .serviceUnavailable {
                    unavailable += 1
                    #expect(vote.errorCode == "storage_unavailable")
                    #expect(vote.headers[.retryAfter] == "5")
                    break
                } else {
                    #expect(vote.status == .created)
                }
            }
            let form = try await browser.post(
                "/c/town/vote", form: [("csrf", try #require(page.csrf)), ("statement", statement), ("vote", "agree")])
            #expect(unavailable == 1)
            // A person voting on the page gets a page that says so.
            #expect(form.status == .serviceUnavailable)
            #expect(form.contains("nothing was saved"))
            let stored = try await h.store.voteEvents(conversationID: h.conversation.id).count
            #expect(try await h.store.votes(conversationID: h.conversation.id).count == stored)

            try await h.store.pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA max_page_count = 1073741823")
            }
            let voted = Set(try await h.store.voteEvents(conversationID: h.conversation.id).map(\.statementID))
            let remaining = try #require(statements.first { !voted.contains($0) })
            let recovered = try await client.json(
                .post, "/api/v1/conversations/town/votes", #"{"statement": \#(remaining), "vote": "disagree"}"#,
                headers: auth)
            #expect(recovered.status == .created)
        }
    }

    @Test func organisersSeeWhoVotesFasterThanAPersonCanRead() async throws {
        let h = try await Harness.make()
        let start = Date()
        for (index, statement) in h.statements.enumerated() {
            for (xid, gap) in [("script", 0.05), ("reader", 6.0)] {
                _ = try await h.store.castVote(
                    conversationID: h.conversation.id, participant: .external(xid), statementID: statement.id,
                    value: .agree, at: start.addingTimeInterval(Double(index) * gap))
            }
        }
        // Five statements give four quick gaps: below the default of ten, so nobody yet.
        try await h.test { client in
            let none = try await client.json(
                .get, "/api/v1/conversations/town/participants/flagged", headers: h.organiserHeaders)
            #expect((try none.decoded()["participants"] as? [Any])?.isEmpty == true)
        }
        let more = try await h.store.addSeedStatements(
            conversationID: h.conversation.id, texts: (0..<10).map { "Extra statement \($0)." }, by: .system
        ).added
        for (index, statement) in more.enumerated() {
            _ = try await h.store.castVote(
                conversationID: h.conversation.id, participant: .external("script"), statementID: statement.id,
                value: .disagree, at: start.addingTimeInterval(1 + Double(index) * 0.05))
        }
        try await h.test { client in
            let flagged = try await client.json(
                .get, "/api/v1/conversations/town/participants/flagged", headers: h.organiserHeaders)
            let rows = try #require(try flagged.decoded()["participants"] as? [[String: Any]])
            #expect(rows.map { $0["xid"] as? String } == ["script"])
            #expect(rows.first?["votes"] as? Int == 15)
            #expect((rows.first?["fast_votes"] as? Int ?? 0) >= 10)
            let anonymous = try await client.json(.get, "/api/v1/conversations/town/participants/flagged")
            #expect(anonymous.status == .unauthorized)

            var browser = Browser(client: client)
            try await AdminSession.signIn(&browser)
            let page = try await browser.get("/admin/conversations/town")
            #expect(page.contains("Flagged participants (1)"))
            #expect(page.contains("<td>script</td>"))
        }
    }
}
