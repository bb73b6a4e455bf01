import CharterDomain
import CharterHTTP
import CharterStore
import CharterTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

enum AdminSession {
    /// Signs in through the login form; returns the CSRF token of the admin pages.
    @discardableResult
    static func signIn(_ browser: inout Browser, password: String = Harness.password) async throws -> Browser.Page {
        let login = try await browser.get("/admin/login")
        let csrf = try #require(login.csrf)
        return try await browser.post(
            "/admin/login", form: [("csrf", csrf), ("email", Harness.email), ("password", password)])
    }
}

@Suite struct AdminPagesTests {
    @Test func pagesNeedASignedInOrganiser() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            for path in ["/admin", "/admin/conversations/town", "/admin/conversations/town/moderation", "/admin/audit"]
            {
                let page = try await browser.get(path)
                #expect(page.path == "/admin/login", "\(path)")
                #expect(page.contains("Organiser sign-in"))
            }
            // A session cookie that was never issued signs nobody in.
            browser.setCookie("charter_admin", "made-up")
            let page = try await browser.get("/admin")
            #expect(page.path == "/admin/login")
        }
    }

    @Test func aWrongPasswordIsRefused() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            let page = try await AdminSession.signIn(&browser, password: "wrong password!")
            #expect(page.status == .unauthorized)
            #expect(page.contains("Wrong email or password."))
            #expect(browser.cookies["charter_admin"] == nil)
        }
    }

    @Test func signInAndOut() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            let home = try await AdminSession.signIn(&browser)
            #expect(home.path == "/admin")
            #expect(home.contains("Town hall"))
            let session = try #require(browser.cookies["charter_admin"])
            let out = try await browser.post("/admin/logout", form: [("csrf", try #require(home.csrf))])
            #expect(out.path == "/admin/login")
            // The old cookie is dead on the server too, not only forgotten by this browser.
            var thief = Browser(client: client)
            thief.setCookie("charter_admin", session)
            let page = try await thief.get("/admin")
            #expect(page.path == "/admin/login")
        }
    }

    @Test func createEditAndSeedAConversation() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            let home = try await AdminSession.signIn(&browser)
            let csrf = try #require(home.csrf)
            var page = try await browser.post(
                "/admin/conversations",
                form: [
                    ("csrf", csrf), ("slug", "ai-values"), ("title", "AI values"),
                    ("question", "What should it value?"),
                    ("description", ""), ("state", "open"), ("closes_at", "2031-05-01T12:30"),
                    ("participant_statements_allowed", "on"),
                    ("max_statement_length", "200"), ("min_votes_before_submit", "3"), ("completion_threshold", "10"),
                    ("completion_code", "THANKS-10"),
                ])
            #expect(page.path == "/admin/conversations/ai-values?done=created")
            var stored = try #require(try await h.store.conversation(slug: "ai-values"))
            #expect(stored.settings.maxStatementLength == 200 && stored.settings.minVotesBeforeSubmit == 3)
            #expect(stored.settings.completionThreshold == 10 && stored.settings.completionCode == "THANKS-10")
            #expect(!stored.settings.strictModeration && stored.settings.participantStatementsAllowed)
            #expect(stored.settings.closesAt == ISO8601DateFormatter().date(from: "2031-05-01T12:30:00Z"))

            page = try await browser.post(
                "/admin/conversations/ai-values",
                form: [
                    ("csrf", csrf), ("slug", "ai-values"), ("title", "AI values (edited)"),
                    ("question", "What should it value?"),
                    ("state", "closed"), ("closes_at", ""), ("strict_moderation", "on"),
                    ("max_statement_length", "200"),
                    ("min_votes_before_submit", "0"), ("completion_threshold", ""), ("completion_code", ""),
                ])
            #expect(page.path == "/admin/conversations/ai-values?done=saved")
            stored = try #require(try await h.store.conversation(slug: "ai-values"))
            #expect(stored.settings.title == "AI values (edited)" && stored.settings.state == .closed)
            #expect(stored.settings.strictModeration && !stored.settings.participantStatementsAllowed)
            #expect(stored.settings.closesAt == nil && stored.settings.completionThreshold == nil)

            page = try await browser.post(
                "/admin/conversations/ai-values/seeds",
                form: [("csrf", csrf), ("statements", "First idea\n\nSecond idea\nfirst   IDEA\n")])
            #expect(page.contains("2 statements added."))
            #expect(page.contains("That statement has already been made."))
            let seeds = try await h.store.statements(conversationID: stored.id, filter: .init(isSeed: true))
            #expect(seeds.items.map(\.text) == ["First idea", "Second idea"])

            let invalid = try await browser.post(
                "/admin/conversations",
                form: [("csrf", csrf), ("slug", "Not Valid"), ("title", "T"), ("question", "Q")])
            #expect(invalid.status == .unprocessableContent)
            #expect(invalid.contains("slug must be"))
        }
    }

    @Test func moderateOneByOneAndInBulk() async throws {
        let h = try await Harness.make(conversation: { $0.strictModeration = true })
        var pending: [Statement] = []
        for i in 1...4 {
            pending.append(
                try await h.store.submitStatement(
                    conversationID: h.conversation.id, participant: .anonymous("p\(i)"), text: "Idea <\(i)>", at: Date()
                ))
        }
        let submitted = pending
        try await h.test { client in
            var browser = Browser(client: client)
            try await AdminSession.signIn(&browser)
            var queue = try await browser.get("/admin/conversations/town/moderation")
            #expect(queue.contains("4 statements"))
            #expect(queue.contains("Idea &lt;1&gt;"))
            let csrf = try #require(queue.csrf)
            queue = try await browser.post(
                "/admin/conversations/town/moderation",
                form: [
                    ("csrf", csrf), ("return", "moderation=pending&offset=0"), ("single", "accept:\(submitted[0].id)"),
                ])
            #expect(queue.contains("1 statement updated."))
            #expect(queue.contains("3 statements"))
            queue = try await browser.post(
                "/admin/conversations/town/moderation",
                form: [
                    ("csrf", csrf), ("statement", String(submitted[1].id)), ("statement", String(submitted[2].id)),
                    ("action", "reject"), ("reason", "Not about AI"),
                ])
            #expect(queue.contains("2 statements updated."))
            queue = try await browser.post(
                "/admin/conversations/town/moderation",
                form: [("csrf", csrf), ("single", "meta:\(submitted[3].id)")])

            let accepted = try await h.store.statement(id: submitted[0].id)
            #expect(accepted?.moderation == .accepted)
            let rejected = try await h.store.statements(
                conversationID: h.conversation.id, filter: .init(moderation: .rejected))
            #expect(rejected.items.map(\.id) == [submitted[1].id, submitted[2].id])
            #expect(rejected.items.allSatisfy { $0.reason == "Not about AI" })
            let meta = try await h.store.statement(id: submitted[3].id)
            #expect(meta?.isMeta == true)

            // Strict mode: participants now see the seeds and the accepted statement only.
            let visible = try await h.store.visibleStatements(conversationID: h.conversation.id)
            #expect(visible.count == 6 && visible.contains { $0.id == submitted[0].id })

            let audit = try await browser.get("/admin/audit?conversation=town")
            #expect(
                audit.contains("statement.accept") && audit.contains("statement.reject")
                    && audit.contains("statement.meta"))
            #expect(audit.contains("pending → rejected: Not about AI"))
            #expect(audit.contains(Harness.email))
        }
    }

    @Test func theQueueIsFilteredAndPaginated() async throws {
        let h = try await Harness.make()
        for i in 1...60 {
            _ = try await h.store.submitStatement(
                conversationID: h.conversation.id, participant: .anonymous("p\(i)"), text: "Suggestion \(i)", at: Date()
            )
        }
        try await h.test { client in
            var browser = Browser(client: client)
            try await AdminSession.signIn(&browser)
            let first = try await browser.get("/admin/conversations/town/moderation")
            #expect(first.contains("60 statements, showing 1–50"))
            let next = try #require(first.firstMatch(#"<a href="([^"]+)">Next"#))
            let second = try await browser.get(next.replacingOccurrences(of: "&amp;", with: "&"))
            #expect(second.contains("Suggestion 60") && !second.contains("Suggestion 50<"))
            let search = try await browser.get("/admin/conversations/town/moderation?moderation=all&q=suggestion%207")
            #expect(search.contains("Suggestion 7<") && !search.contains("Suggestion 8<"))
            let seeds = try await browser.get("/admin/conversations/town/moderation?moderation=accepted")
            #expect(seeds.contains("5 statements"))
        }
    }
}
