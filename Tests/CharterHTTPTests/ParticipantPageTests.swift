import CharterDomain
import CharterHTTP
import CharterStore
import CharterTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite struct ParticipantPageTests {
    @Test func theFirstVisitShowsOneStatementAndSetsASignedCookie() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            let page = try await browser.get("/c/town")
            #expect(page.status == .ok)
            #expect(page.contains("How should our AI behave?"))
            #expect(page.contains("0 of 5 statements"))
            #expect(page.contains(#"<form method="post" action="/c/town/vote" class="vote">"#))
            for value in ["agree", "disagree", "pass"] { #expect(page.contains(#"name="vote" value="\#(value)""#)) }
            let shown = try #require(page.input("statement").flatMap(Int64.init))
            #expect(h.statements.map(\.id).contains(shown))
            let cookie = try #require(page.headers[values: .setCookie].first { $0.hasPrefix("charter_browser=") })
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"))
            #expect(page.body.utf8.count < 30_000)
            // Looking creates no participant: that waits for the first vote.
            #expect(try await h.store.counts().participants == 0)
        }
    }

    @Test func votingRedirectsToTheNextStatementAndIsStored() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            var page = try await browser.get("/c/town")
            var voted: [Int64] = []
            for value in ["agree", "disagree", "pass"] {
                let id = try #require(page.input("statement"))
                voted.append(Int64(id)!)
                page = try await browser.post(
                    "/c/town/vote", form: [("csrf", page.csrf ?? ""), ("statement", id), ("vote", value)])
                #expect(page.redirects == [.seeOther])
                #expect(page.path == "/c/town?done=vote")
                // The browser lands on the confirmation, the statement and its buttons (issue 15).
                #expect(page.fragment == "statement" && page.contains(#"<div id="statement" class="current">"#))
                #expect(page.contains("Vote recorded."))
            }
            #expect(page.contains("3 of 5 statements"))
            let next = try #require(page.input("statement").flatMap(Int64.init))
            #expect(!voted.contains(next))
            let votes = try await h.store.votes(conversationID: h.conversation.id)
            #expect(votes.map(\.statementID) == voted)
            #expect(votes.map(\.value) == [.agree, .disagree, .pass])
            #expect(Set(votes.map(\.participantID)).count == 1)
        }
    }

    @Test func theLastVoteCanBeChanged() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            var page = try await browser.get("/c/town")
            let id = try #require(page.input("statement"))
            page = try await browser.post(
                "/c/town/vote", form: [("csrf", page.csrf!), ("statement", id), ("vote", "agree")])
            #expect(page.contains("Your last vote: <strong>Agree</strong>"))
            page = try await browser.post(
                "/c/town/vote", form: [("csrf", page.csrf!), ("statement", id), ("vote", "disagree")])
            #expect(page.path == "/c/town?done=changed")
            #expect(page.contains("Vote changed."))
            #expect(page.contains("1 of 5 statements"))
            let votes = try await h.store.votes(conversationID: h.conversation.id)
            #expect(votes.map(\.value) == [.disagree])
            let events = try await h.store.voteEvents(conversationID: h.conversation.id)
            #expect(events.map(\.value) == [.agree, .disagree])
        }
    }

    @Test func aPanelParticipantIsTracedByXIDAndItsFormsNeedItsBrowser() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            let page = try await browser.get("/c/town?xid=panel%2042")
            #expect(page.contains(#"name="xid" value="panel 42""#))
            let id = try #require(page.input("statement"))
            var cookieless = Browser(client: client)
            // The page's token is bound to its browser: knowing the xid is not enough.
            let refused = try await cookieless.post(
                "/c/town/vote", form: [("csrf", page.csrf!), ("statement", id), ("vote", "agree"), ("xid", "panel 42")])
            #expect(refused.status == .forbidden)
            let after = try await browser.post(
                "/c/town/vote", form: [("csrf", page.csrf!), ("statement", id), ("vote", "agree"), ("xid", "panel 42")])
            #expect(after.path == "/c/town?xid=panel%2042&done=vote")
            #expect(after.contains("1 of 5 statements"))
            let participant = try await h.store.existingParticipant(
                conversationID: h.conversation.id, identity: .external("panel 42"))
            #expect(participant != nil)
            // Another xid cannot reuse this page's token.
            let forged = try await cookieless.post(
                "/c/town/vote", form: [("csrf", page.csrf!), ("statement", id), ("vote", "agree"), ("xid", "panel 43")])
            #expect(forged.status == .forbidden)
        }
    }

    /// A second tap on the same button (a slow phone) is answered like the first, not with an
    /// error page, and the vote log keeps one event.
    @Test func aDoubleTapOnTheSameVoteIsAnsweredLikeTheFirst() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            let page = try await browser.get("/c/town")
            let form = [
                ("csrf", page.csrf ?? ""), ("statement", try #require(page.input("statement"))), ("vote", "agree"),
            ]
            let first = try await browser.post("/c/town/vote", form: form)
            let second = try await browser.post("/c/town/vote", form: form)
            #expect(first.status == .ok && second.status == .ok)
            #expect(first.path == "/c/town?done=vote" && second.path == "/c/town?done=vote")
            #expect(second.redirects == [.seeOther])
            let events = try await h.store.voteEvents(conversationID: h.conversation.id)
            #expect(events.count == 1)
        }
    }

    /// Refused submissions cost nothing of the statement allowance; when it runs out, the page
    /// keeps the typed text and says when to try again.
    @Test func refusedStatementsDoNotUseUpTheLimitAndTheLimitKeepsTheText() async throws {
        let h = try await Harness.make { $0.rateLimits.statementsPerParticipant = RateLimit(rate: 0.001, burst: 2) }
        try await h.test { client in
            var browser = Browser(client: client)
            let page = try await browser.get("/c/town")
            #expect(page.contains("Writing a statement counts as your agree vote on it"))
            let csrf = try #require(page.csrf)
            for refused in ["   ", String(repeating: "x", count: 141), "The AI should be honest.", "   "] {
                let answer = try await browser.post("/c/town/statements", form: [("csrf", csrf), ("text", refused)])
                #expect(
                    [.unprocessableContent, .conflict, .ok].contains(answer.status)
                        && answer.path == "/c/town/statements",
                    "\(refused.prefix(10))")
            }
            for accepted in ["The AI should explain itself.", "The AI should admit mistakes."] {
                let answer = try await browser.post("/c/town/statements", form: [("csrf", csrf), ("text", accepted)])
                #expect(answer.path.hasPrefix("/c/town?done=statement"), "\(accepted)")
            }
            let limited = try await browser.post(
                "/c/town/statements", form: [("csrf", csrf), ("text", "The AI should show its sources.")])
            #expect(limited.status == .tooManyRequests)
            #expect(limited.headers[.retryAfter] != nil)
            #expect(limited.contains("try again in"))
            #expect(limited.contains(">The AI should show its sources.</textarea>"), "the typed text stays")
            #expect(limited.contains(#"action="/c/town/statements""#), "on the conversation's own page")
        }
    }

    @Test func participantsSubmitStatementsThatCountAsAgree() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            var page = try await browser.get("/c/town")
            page = try await browser.post(
                "/c/town/statements", form: [("csrf", page.csrf!), ("text", "  The AI should explain itself.  ")])
            #expect(page.path == "/c/town?done=statement")
            #expect(page.contains("1 of 6 statements"))
            let all = try await h.store.statements(
                conversationID: h.conversation.id, filter: .init(moderation: .pending))
            let added = try #require(all.items.first)
            #expect(added.text == "The AI should explain itself.")
            let votes = try await h.store.votes(conversationID: h.conversation.id)
            #expect(votes.count == 1 && votes[0].statementID == added.id && votes[0].value == .agree)
        }
    }

    @Test(arguments: [
        ("   ", 422, "The statement is empty."),
        (String(repeating: "x", count: 141), 422, "the limit is 140"),
        // Before it reaches the store's duplicate rule, the look-alike check shows the statement.
        ("the AI   should BE honest!", 200, "Your statement has already been made, in the same words."),
    ])
    func badStatementsAreRefusedWithAMessageAndChangeNothing(text: String, status: Int, message: String) async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            let page = try await browser.get("/c/town")
            let before = try h.snapshot()
            let refused = try await browser.post("/c/town/statements", form: [("csrf", page.csrf!), ("text", text)])
            #expect(refused.status.code == status)
            #expect(refused.contains(message))
            #expect(try h.snapshot() == before)
        }
    }

    @Test func aCompletionCodeAppearsAfterTheThreshold() async throws {
        let h = try await Harness.make(conversation: {
            $0.completionThreshold = 2
            $0.completionCode = "PANEL-OK-7"
        })
        try await h.test { client in
            var browser = Browser(client: client)
            var page = try await browser.get("/c/town")
            page = try await browser.post(
                "/c/town/vote", form: [("csrf", page.csrf!), ("statement", page.input("statement")!), ("vote", "pass")])
            #expect(!page.contains("PANEL-OK-7"))
            page = try await browser.post(
                "/c/town/vote", form: [("csrf", page.csrf!), ("statement", page.input("statement")!), ("vote", "pass")])
            #expect(page.contains("PANEL-OK-7"))
        }
    }

    @Test func aClosedConversationShowsResultsPendingAndTakesNoVotes() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            let open = try await browser.get("/c/town")
            let csrf = try #require(open.csrf)
            var settings = h.conversation.settings
            settings.closesAt = Date().addingTimeInterval(-60)
            _ = try await h.store.updateConversation(id: h.conversation.id, settings, by: .system)
            let page = try await browser.get("/c/town")
            #expect(page.contains("Voting has ended."))
            #expect(page.input("statement") == nil)
            let before = try h.snapshot()
            for (path, form) in [
                ("/c/town/vote", [("csrf", csrf), ("statement", String(h.statements[0].id)), ("vote", "agree")]),
                ("/c/town/statements", [("csrf", csrf), ("text", "Too late")]),
            ] {
                let refused = try await browser.post(path, form: form)
                #expect(refused.status == .conflict)
                #expect(refused.contains("closed"))
            }
            #expect(try h.snapshot() == before)
        }
    }

    @Test func statementTextIsEscaped() async throws {
        let h = try await Harness.make()
        _ = try await h.store.moderate(
            statementIDs: h.statements.map(\.id), conversationID: h.conversation.id, action: .reject(reason: ""),
            by: .system)
        _ = try await h.store.addSeedStatements(
            conversationID: h.conversation.id, texts: [#"<script>alert("x")</script> & <b>"#], by: .system)
        try await h.test { client in
            var browser = Browser(client: client)
            let page = try await browser.get("/c/town")
            #expect(!page.contains("<script>"))
            #expect(page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;"))
        }
    }

    @Test func pagesCarrySecurityHeaders() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            let response = try await client.execute(uri: "/c/town", method: .get)
            let csp = try #require(response.headers[.contentSecurityPolicy])
            #expect(
                csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline") && !csp.contains("script-src"))
            #expect(response.headers[.xContentTypeOptions] == "nosniff")
            #expect(response.headers[HTTPField.Name("Referrer-Policy")!] == "same-origin")
        }
    }

    @Test func theHomePageListsOpenConversationsOnly() async throws {
        let h = try await Harness.make()
        _ = try await h.store.createConversation(
            .init(slug: "finished", title: "Finished one", question: "Q", state: .closed), by: .system)
        try await h.test { client in
            var browser = Browser(client: client)
            let home = try await browser.get("/")
            #expect(home.status == .ok)
            #expect(home.contains(#"<a href="/c/town">Town hall</a>"#))
            #expect(!home.contains("Finished one"))
        }
    }

    @Test func unknownConversationsAre404Pages() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            let response = try await client.execute(uri: "/c/nope", method: .get)
            #expect(response.status == .notFound)
            #expect(response.text.contains("Conversation not found."))
            #expect(response.headers[.contentType]?.hasPrefix("text/html") == true)
        }
    }
}
