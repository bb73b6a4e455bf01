import CharterCompiler
import CharterDomain
import CharterHTTP
import CharterInput
import CharterStore
import CharterTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CharterHTTP

@Suite struct SecurityTests {
    @Test func tokensUseTheURLSafeBase64AlphabetWithoutPadding() throws {
        var generator = SystemRandomNumberGenerator()
        for count in 0..<70 {
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let expected = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            let encoded = Base64URL.encode(bytes)
            #expect(encoded == expected)
            let decoded = Base64URL.decode(encoded)
            #expect(decoded == bytes)
        }
        let edges = Base64URL.encode([0xFB, 0xFF, 0xBF])
        #expect(edges == "-_-_")
    }

    @Test func aBearerTokenIsReadWithoutTheSpacesAroundIt() throws {
        func token(_ header: String) -> String? {
            var head = HTTPRequest(method: .get, scheme: "http", authority: "x", path: "/")
            head.headerFields[.authorization] = header
            return Request(head: head, body: .init(buffer: ByteBuffer())).bearerToken
        }
        #expect(token("Bearer \t cp_abc.def \t") == "cp_abc.def")
        #expect(token("bearer cp_x") == "cp_x")
        #expect(token("Basic cp_x") == nil)
    }

    @Test func controlCharactersAreRefusedNeverCutShort() async throws {
        let h = try await Harness.make()
        let before = try h.snapshot()
        try await h.test { client in
            for body in [#"{"xid": "\u0000evil"}"#, #"{"xid": "a\u001b[2J"}"#] {
                let response = try await client.json(.post, "/api/v1/conversations/town/participants", body)
                #expect(response.status == .unprocessableContent, "\(body)")
            }
            let page = try await client.json(.get, "/c/town?xid=%00evil")
            #expect(page.status.code >= 400 && page.status.code < 500)
            let conversation = try await client.json(
                .post, "/api/v1/conversations", #"{"slug": "nul", "title": "Title\u0000hidden", "question": "Q?"}"#,
                headers: h.organiserHeaders)
            #expect(conversation.status == .unprocessableContent)
            #expect(conversation.errorCode == "invalid")
        }
        #expect(try h.snapshot() == before)
    }

    @Test func aTextareasLineEndsAreOneLineEnd() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            let page = try await browser.get("/c/town")
            let posted = try await browser.post(
                "/c/town/statements",
                form: [("csrf", try #require(page.csrf)), ("text", "The AI should explain itself.\r\nAlways.")])
            #expect(posted.status == .ok)
        }
        let texts = try await h.store.allStatements(conversationID: h.conversation.id).map(\.text)
        #expect(texts.contains("The AI should explain itself.\nAlways."))
    }

    @Test func repeatedFailedSignInsLockTheAccount() async throws {
        let h = try await Harness.make { $0.rateLimits.loginFailuresPerAccount = RateLimit(rate: 1.0 / 180, burst: 3) }
        try await h.test { client in
            var browser = Browser(client: client)
            func attempt(_ password: String, email: String = Harness.email) async throws -> Browser.Page {
                let login = try await browser.get("/admin/login")
                return try await browser.post(
                    "/admin/login",
                    form: [("csrf", try #require(login.csrf)), ("email", email), ("password", password)])
            }
            // A trailing NUL is not the password, though PBKDF2 would pad the key with zeros.
            #expect(try await attempt(Harness.password + "\u{0}").status == .unauthorized)
            #expect(try await attempt("wrong password one").status == .unauthorized)
            #expect(try await attempt("wrong password two").status == .unauthorized)
            let locked = try await attempt(Harness.password)
            #expect(locked.status == .tooManyRequests)
            #expect(locked.contains("locked"))
            #expect(Int(locked.headers[.retryAfter] ?? "") ?? 0 > 60)
            #expect(browser.cookies["charter_admin"] == nil)
            // The lock is the account's: another account still signs in as before.
            #expect(try await attempt("anything at all", email: "other@example.org").status == .unauthorized)
        }
    }

    @Test func aSignInStartsAFreshSessionWithStrictCookieFlags() async throws {
        let h = try await Harness.make { $0.secureCookies = true }
        try await h.test { client in
            var browser = Browser(client: client)
            let login = try await browser.get("/admin/login")
            let response = try await client.executeRequest(
                uri: "/admin/login", method: .post,
                headers: [
                    .contentType: "application/x-www-form-urlencoded",
                    .cookie: browser.cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; "),
                ],
                body: ByteBuffer(
                    string: Browser.encode([
                        ("csrf", try #require(login.csrf)), ("email", Harness.email), ("password", Harness.password),
                    ])))
            #expect(response.status == .seeOther)
            let cookie = try #require(response.headers[values: .setCookie].first { $0.hasPrefix("charter_admin=") })
            for flag in ["HttpOnly", "Secure", "SameSite=Strict"] { #expect(cookie.contains(flag), "\(flag)") }
            let first = cookie.split(separator: ";")[0]
            try await AdminSession.signIn(&browser)
            #expect("charter_admin=\(browser.cookies["charter_admin"] ?? "")" != first)
        }
    }

    @Test func aContentTypeMustBeTheOneNamedNotOneThatStartsLikeIt() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            let page = try await browser.get("/c/town")
            let statement = try #require(page.input("statement"))
            let response = try await browser.post(
                "/c/town/vote",
                rawBody: Browser.encode([
                    ("csrf", try #require(page.csrf)), ("statement", statement), ("vote", "agree"),
                ]),
                contentType: "application/x-www-form-urlencoded-but-not-really")
            #expect(response.status == .unsupportedMediaType)
            let json = try await client.json(
                .post, "/api/v1/conversations/town/participants", "{}",
                headers: [.contentType: "application/jsonp"])
            #expect(json.status == .unsupportedMediaType)
        }
        #expect(try await h.store.voteEvents(conversationID: h.conversation.id).isEmpty)
    }

    @Test func exportsNeutraliseFormulasAndMarkdownShowsHTMLAsText() async throws {
        let h = try await Harness.make()
        let hostile = try await h.store.addSeedStatements(
            conversationID: h.conversation.id,
            texts: [
                #"=HYPERLINK("http://evil.example","click")"#,
                "@SUM(1+1) and <script>alert(1)</script> [x](javascript:alert(1))",
            ],
            by: .system
        ).added
        #expect(hostile.count == 2)
        try await h.test { client in
            let export = try await client.json(
                .get, "/api/v1/conversations/town/export/polis", headers: h.organiserHeaders)
            let files = try PolisArchive.unzip(Data(export.body.readableBytesView), limits: ImportLimits())
            let comments = String(decoding: try #require(files["comments.csv"]), as: UTF8.self)
            #expect(comments.contains(#"'=HYPERLINK"#))
            #expect(comments.contains("'@SUM(1+1)"))
            #expect(!comments.contains(",=HYPERLINK") && !comments.contains(",\"=HYPERLINK"))
        }
        // Round trip: the import takes the guard off again.
        #expect(CSVInjection.restored(CSVInjection.neutralised("=1+1")) == "=1+1")
        #expect(CSVInjection.restored("'plain") == "'plain")

        let constitution = Constitution(
            name: "<b>Name</b>", version: 1, kind: "collective", description: "<img src=x onerror=alert(1)>",
            principles: [.init(id: "p", text: hostile[1].text)])
        let markdown = String(decoding: try constitution.rendered(.md), as: UTF8.self)
        #expect(!markdown.contains("<script>") && !markdown.contains("<img") && !markdown.contains("<b>"))
        #expect(markdown.contains("&lt;script&gt;"))
        #expect(!markdown.contains("[x](javascript"))
    }
}
