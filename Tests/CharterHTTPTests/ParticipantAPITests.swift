import CharterDomain
import CharterHTTP
import CharterStore
import CharterTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite struct ParticipantAPITests {
    func register(_ client: any TestClientProtocol, xid: String? = nil) async throws -> (id: Int64, token: String) {
        let body = xid.map { #"{"xid": "\#($0)"}"# } ?? "{}"
        let response = try await client.json(.post, "/api/v1/conversations/town/participants", body)
        #expect(response.status == .created)
        let json = try response.decoded()
        let participant = try #require(json["participant"] as? [String: Any])
        return (
            try #require(participant["id"] as? Int64 ?? (participant["id"] as? Int).map(Int64.init)),
            try #require(json["token"] as? String)
        )
    }

    @Test func aPanelParticipantVotesThroughTheAPI() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            let (id, token) = try await register(client, xid: "panel-9")
            let (sameID, otherToken) = try await register(client, xid: "panel-9")
            #expect(sameID == id && otherToken != token)
            let auth: HTTPFields = [.authorization: "Bearer \(token)"]

            let conversation = try await client.json(.get, "/api/v1/conversations/town")
            let statements = try #require(try conversation.decoded()["statements"] as? [[String: Any]])
            #expect(statements.count == 5)
            #expect(((try conversation.decoded())["conversation"] as? [String: Any])?["completion_code"] == nil)

            var seen: [Int] = []
            while true {
                let next = try await client.json(.get, "/api/v1/conversations/town/next", headers: auth)
                if next.status == .noContent { break }
                #expect(next.status == .ok)
                let statement = try #require(try next.decoded()["statement"] as? [String: Any])
                let sid = try #require(statement["id"] as? Int)
                seen.append(sid)
                let vote = try await client.json(
                    .post, "/api/v1/conversations/town/votes", #"{"statement": \#(sid), "vote": "agree"}"#,
                    headers: auth)
                #expect(vote.status == .created)
            }
            #expect(Set(seen) == Set(h.statements.map { Int($0.id) }))
            // Changing the last vote is a 200, repeating it a 409.
            let change = try await client.json(
                .post, "/api/v1/conversations/town/votes", #"{"statement": \#(seen.last!), "vote": "pass"}"#,
                headers: auth)
            #expect(change.status == .ok)
            #expect(try change.decoded()["changed_from"] as? String == "agree")
            let again = try await client.json(
                .post, "/api/v1/conversations/town/votes", #"{"statement": \#(seen.last!), "vote": "pass"}"#,
                headers: auth)
            #expect(again.status == .conflict && again.errorCode == "duplicate_vote")
            let older = try await client.json(
                .post, "/api/v1/conversations/town/votes", #"{"statement": \#(seen.first!), "vote": "pass"}"#,
                headers: auth)
            #expect(older.status == .conflict && older.errorCode == "vote_not_changeable")

            let votes = try await h.store.votes(conversationID: h.conversation.id)
            #expect(votes.count == 5 && votes.allSatisfy { $0.participantID == id })
        }
    }

    @Test func statementsSubmittedThroughTheAPI() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            let (id, token) = try await register(client)
            let auth: HTTPFields = [.authorization: "Bearer \(token)"]
            let created = try await client.json(
                .post, "/api/v1/conversations/town/statements", #"{"text": "The AI should show its reasoning."}"#,
                headers: auth)
            #expect(created.status == .created)
            let json = try created.decoded()
            #expect(json["text"] as? String == "The AI should show its reasoning.")
            #expect(json["moderation"] as? String == "pending")
            #expect((json["author_id"] as? Int).map(Int64.init) == id)
            let duplicate = try await client.json(
                .post, "/api/v1/conversations/town/statements", #"{"text": "the ai should SHOW its reasoning."}"#,
                headers: auth)
            #expect(duplicate.status == .conflict && duplicate.errorCode == "duplicate_statement")
        }
    }

    @Test func aTokenIsValidOnlyForItsConversation() async throws {
        let h = try await Harness.make()
        let other = try await h.store.createConversation(.init(slug: "other", title: "O", question: "Q"), by: .system)
        _ = try await h.store.addSeedStatements(conversationID: other.id, texts: ["X"], by: .system)
        try await h.test { client in
            let (_, token) = try await register(client)
            let response = try await client.json(
                .get, "/api/v1/conversations/other/next", headers: [.authorization: "Bearer \(token)"])
            #expect(response.status == .unauthorized)
            #expect(response.errorCode == "unauthorized")
        }
    }

    /// RFC 9110: the scheme is case-insensitive; anything else in the header is not a token.
    @Test func theBearerSchemeIsReadWhateverItsCaseAndNothingElseIs() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            let (_, token) = try await register(client)
            for header in ["Bearer \(token)", "bearer \(token)", "BEARER   \(token)"] {
                let response = try await client.json(
                    .get, "/api/v1/conversations/town/next", headers: [.authorization: header])
                #expect(response.status == .ok, "\(header)")
            }
            for header in ["Bearer", "Bearer ", "Bearertoken \(token)", "Basic \(token)", "Bearer\t\(token)", token] {
                let response = try await client.json(
                    .get, "/api/v1/conversations/town/next", headers: [.authorization: header])
                #expect(response.status == .unauthorized, "\(header)")
            }
        }
    }

    /// The vote route remembers which conversation a slug names; a rename must not leave the old
    /// name working, and a slug handed to another conversation must lead to that one.
    @Test func votesFollowARenamedConversationAndItsOldSlugPassesOn() async throws {
        let h = try await Harness.make()
        let statements = h.statements.map(\.id)
        try await h.test { client in
            let (_, token) = try await register(client)
            let auth: HTTPFields = [.authorization: "Bearer \(token)"]
            func vote(_ slug: String, _ statement: Int64, headers: HTTPFields) async throws -> TestResponse {
                try await client.json(
                    .post, "/api/v1/conversations/\(slug)/votes", #"{"statement": \#(statement), "vote": "agree"}"#,
                    headers: headers)
            }
            let first = try await vote("town", statements[0], headers: auth)
            #expect(first.status == .created)

            var settings = h.conversation.settings
            settings.slug = "city"
            _ = try await h.store.updateConversation(id: h.conversation.id, settings, by: .system)
            let atOldSlug = try await vote("town", statements[1], headers: auth)
            #expect(atOldSlug.status == .notFound)
            let atNewSlug = try await vote("city", statements[1], headers: auth)
            #expect(atNewSlug.status == .created)

            let newcomer = try await h.store.createConversation(
                .init(slug: "town", title: "New town", question: "Q"), by: .system)
            let seeded = try await h.store.addSeedStatements(
                conversationID: newcomer.id, texts: ["A statement of the new town."], by: .system
            ).added
            let oldToken = try await vote("town", seeded[0].id, headers: auth)
            #expect(oldToken.status == .unauthorized)
            let (_, newToken) = try await register(client)
            let inNewTown = try await vote("town", seeded[0].id, headers: [.authorization: "Bearer \(newToken)"])
            #expect(inNewTown.status == .created)
            let stored = try await h.store.votes(conversationID: newcomer.id)
            #expect(stored.count == 1)
            let old = try await h.store.votes(conversationID: h.conversation.id)
            #expect(old.count == 2)
        }
    }

    @Test func theLastStatementGivesNoContent() async throws {
        let h = try await Harness.make()
        _ = try await h.store.moderate(
            statementIDs: h.statements.map(\.id), conversationID: h.conversation.id, action: .markMeta(true),
            by: .system)
        try await h.test { client in
            let (_, token) = try await register(client)
            let next = try await client.json(
                .get, "/api/v1/conversations/town/next", headers: [.authorization: "Bearer \(token)"])
            #expect(next.status == .noContent)
        }
    }
}

@Suite struct OrganiserAPITests {
    @Test func anOrganiserRunsAConversationThroughTheAPI() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            let auth = h.organiserHeaders
            let created = try await client.json(
                .post, "/api/v1/conversations",
                #"{"slug": "ai-rules", "title": "AI rules", "question": "What should the AI do?", "strict_moderation": true, "completion_threshold": 3, "completion_code": "DONE-1", "closes_at": "2030-01-01T00:00:00Z"}"#,
                headers: auth)
            #expect(created.status == .created)
            let body = try created.decoded()
            #expect(body["strict_moderation"] as? Bool == true)
            #expect(body["completion_code"] as? String == "DONE-1")
            #expect(body["closes_at"] as? String == "2030-01-01T00:00:00Z")

            let patched = try await client.json(
                .patch, "/api/v1/conversations/ai-rules", #"{"title": "AI rules, v2", "closes_at": null}"#,
                headers: auth)
            #expect(patched.status == .ok)
            #expect(try patched.decoded()["title"] as? String == "AI rules, v2")
            #expect(try patched.decoded()["closes_at"] == nil)

            let seededJSON = try await client.json(
                .post, "/api/v1/conversations/ai-rules/seeds",
                #"{"statements": ["Be honest.", "be  HONEST.", "Be brief."]}"#,
                headers: auth)
            #expect(seededJSON.status == .created)
            #expect((try seededJSON.decoded()["added"] as? [Any])?.count == 2)
            #expect(
                (try seededJSON.decoded()["skipped"] as? [[String: Any]])?.first?["code"] as? String
                    == "duplicate_statement")

            var textHeaders = auth
            textHeaders[.contentType] = "text/plain; charset=utf-8"
            let seededText = try await client.json(
                .post, "/api/v1/conversations/ai-rules/seeds",
                "Cite sources.\n\n  Admit mistakes.  \r\nRespect privacy.\n",
                headers: textHeaders)
            #expect(seededText.status == .created)
            #expect((try seededText.decoded()["added"] as? [Any])?.count == 3)

            let conversation = try #require(try await h.store.conversation(slug: "ai-rules"))
            for text in ["Participant one", "Participant two", "Participant three"] {
                _ = try await h.store.submitStatement(
                    conversationID: conversation.id, participant: .anonymous(text), text: text, at: Date())
            }
            let queue = try await client.json(
                .get, "/api/v1/conversations/ai-rules/statements?moderation=pending&limit=2", headers: auth)
            let page = try queue.decoded()
            #expect(page["total"] as? Int == 3)
            let items = try #require(page["items"] as? [[String: Any]])
            #expect(items.count == 2)
            let ids = items.compactMap { $0["id"] as? Int }

            let moderated = try await client.json(
                .post, "/api/v1/conversations/ai-rules/moderation",
                #"{"statements": [\#(ids[0]), \#(ids[1])], "action": "reject", "reason": "off topic"}"#, headers: auth)
            #expect(moderated.status == .ok)
            let rejected = try await h.store.statements(
                conversationID: conversation.id, filter: .init(moderation: .rejected))
            #expect(rejected.items.map { Int($0.id) } == ids)
            #expect(rejected.items.allSatisfy { $0.reason == "off topic" })

            let audit = try await client.json(.get, "/api/v1/conversations/ai-rules/audit?limit=100", headers: auth)
            let entries = try #require(try audit.decoded()["items"] as? [[String: Any]])
            let actions = entries.compactMap { $0["action"] as? String }
            #expect(actions.filter { $0 == "statement.reject" }.count == 2)
            #expect(actions.contains("conversation.create") && actions.contains("conversation.edit"))
            #expect(entries.allSatisfy { $0["actor"] as? String == Harness.email })

            let list = try await client.json(.get, "/api/v1/conversations", headers: auth)
            #expect((try list.decoded()["conversations"] as? [Any])?.count == 2)
        }
    }

    @Test func conversationFieldsAreValidated() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            let before = try h.snapshot()
            for (body, status, code) in [
                (#"{"slug": "Bad Slug", "title": "T", "question": "Q"}"#, 422, "invalid"),
                (#"{"slug": "town", "title": "T", "question": "Q"}"#, 409, "conflict"),
                (#"{"title": "T", "question": "Q"}"#, 422, "invalid"),
                (#"{"slug": "x", "title": "T", "question": "Q", "state": "paused"}"#, 422, "invalid"),
                (#"{"slug": "x", "title": "T", "question": "Q", "max_statement_length": "long"}"#, 400, "bad_request"),
                (#"{"slug": "x", "title": "T", "question": "Q", "completion_threshold": 5}"#, 422, "invalid"),
            ] {
                let response = try await client.json(.post, "/api/v1/conversations", body, headers: h.organiserHeaders)
                #expect(response.status.code == status, "\(body)")
                #expect(response.errorCode == code, "\(body)")
            }
            #expect(try h.snapshot() == before)
        }
    }
}
