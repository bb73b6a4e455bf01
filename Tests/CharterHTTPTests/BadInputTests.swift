import CharterDomain
import CharterHTTP
import CharterStore
import CharterTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Every route refuses bad input with a clear 4xx and leaves the database as it was.
@Suite struct BadInputTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let method: HTTPRequest.Method
        let path: String
        let body: String?
        let contentType: String?
        let auth: Auth
        let status: Int
        let code: String?

        enum Auth: Sendable {
            case none, participant, organiser, wrongOrganiser, wrongParticipant
        }

        init(
            _ name: String, _ method: HTTPRequest.Method, _ path: String, _ body: String? = nil,
            contentType: String? = "application/json", auth: Auth = .none, expect status: Int, _ code: String? = nil
        ) {
            self.name = name
            self.method = method
            self.path = path
            self.body = body
            self.contentType = contentType
            self.auth = auth
            self.status = status
            self.code = code
        }

        var testDescription: String { name }
    }

    static let oversize = #"{"text": ""# + String(repeating: "x", count: 70_000) + #""}"#

    static let apiCases: [Case] = [
        // Participants
        Case(
            "register: malformed JSON", .post, "/api/v1/conversations/town/participants", "{xid:", expect: 400,
            "bad_request"),
        Case(
            "register: xid of wrong type", .post, "/api/v1/conversations/town/participants", #"{"xid": 7}"#,
            expect: 400, "bad_request"),
        Case(
            "register: empty xid", .post, "/api/v1/conversations/town/participants", #"{"xid": "  "}"#, expect: 422,
            "invalid"),
        Case(
            "register: unknown conversation", .post, "/api/v1/conversations/nope/participants", "{}", expect: 404,
            "not_found"),
        Case(
            "register: form instead of JSON", .post, "/api/v1/conversations/town/participants", "xid=1",
            contentType: "application/x-www-form-urlencoded", expect: 415, "unsupported_media_type"),
        Case("conversation: unknown", .get, "/api/v1/conversations/nope", expect: 404, "not_found"),
        Case("next: no token", .get, "/api/v1/conversations/town/next", expect: 401, "unauthorized"),
        Case(
            "next: forged token", .get, "/api/v1/conversations/town/next", auth: .wrongParticipant, expect: 401,
            "unauthorized"),
        Case(
            "vote: no token", .post, "/api/v1/conversations/town/votes", #"{"statement": 1, "vote": "agree"}"#,
            expect: 401, "unauthorized"),
        Case(
            "vote: malformed JSON", .post, "/api/v1/conversations/town/votes", #"{"statement": 1,"#, auth: .participant,
            expect: 400, "bad_request"),
        Case(
            "vote: missing field", .post, "/api/v1/conversations/town/votes", #"{"statement": 1}"#, auth: .participant,
            expect: 400, "bad_request"),
        Case(
            "vote: id not a number", .post, "/api/v1/conversations/town/votes",
            #"{"statement": "one", "vote": "agree"}"#,
            auth: .participant, expect: 400, "bad_request"),
        Case(
            "vote: unknown value", .post, "/api/v1/conversations/town/votes", #"{"statement": 1, "vote": "maybe"}"#,
            auth: .participant, expect: 422, "invalid"),
        Case(
            "vote: unknown statement", .post, "/api/v1/conversations/town/votes",
            #"{"statement": 9999, "vote": "agree"}"#,
            auth: .participant, expect: 404, "not_found"),
        Case(
            "vote: rejected statement", .post, "/api/v1/conversations/town/votes",
            #"{"statement": 5, "vote": "agree"}"#,
            auth: .participant, expect: 422, "statement_not_votable"),
        Case(
            "vote: oversize body", .post, "/api/v1/conversations/town/votes", oversize, auth: .participant, expect: 413,
            "body_too_large"),
        Case(
            "statement: empty", .post, "/api/v1/conversations/town/statements", #"{"text": " "}"#, auth: .participant,
            expect: 422, "invalid"),
        Case(
            "statement: too long", .post, "/api/v1/conversations/town/statements",
            #"{"text": "\#(String(repeating: "y", count: 141))"}"#, auth: .participant, expect: 422, "invalid"),
        Case(
            "statement: duplicate", .post, "/api/v1/conversations/town/statements",
            #"{"text": "THE AI SHOULD BE KIND."}"#,
            auth: .participant, expect: 409, "duplicate_statement"),
        Case(
            "statement: oversize body", .post, "/api/v1/conversations/town/statements", oversize, auth: .participant,
            expect: 413, "body_too_large"),
        // Organisers
        Case("list: no credentials", .get, "/api/v1/conversations", expect: 401, "unauthorized"),
        Case("list: wrong token", .get, "/api/v1/conversations", auth: .wrongOrganiser, expect: 401, "unauthorized"),
        Case("list: participant token", .get, "/api/v1/conversations", auth: .participant, expect: 401, "unauthorized"),
        Case(
            "create: no credentials", .post, "/api/v1/conversations", #"{"slug": "x", "title": "T", "question": "Q"}"#,
            expect: 401, "unauthorized"),
        Case(
            "create: malformed JSON", .post, "/api/v1/conversations", "[1,", auth: .organiser, expect: 400,
            "bad_request"),
        Case(
            "edit: wrong token", .patch, "/api/v1/conversations/town", #"{"title": "X"}"#, auth: .wrongOrganiser,
            expect: 401, "unauthorized"),
        Case(
            "edit: unknown conversation", .patch, "/api/v1/conversations/nope", #"{"title": "X"}"#, auth: .organiser,
            expect: 404, "not_found"),
        Case(
            "edit: bad max length", .patch, "/api/v1/conversations/town", #"{"max_statement_length": 0}"#,
            auth: .organiser, expect: 422, "invalid"),
        Case("statements: no credentials", .get, "/api/v1/conversations/town/statements", expect: 401, "unauthorized"),
        Case(
            "statements: bad filter", .get, "/api/v1/conversations/town/statements?moderation=maybe", auth: .organiser,
            expect: 400, "bad_request"),
        Case(
            "statements: bad limit", .get, "/api/v1/conversations/town/statements?limit=-3", auth: .organiser,
            expect: 400, "bad_request"),
        Case(
            "seeds: no credentials", .post, "/api/v1/conversations/town/seeds", #"{"statements": ["a"]}"#, expect: 401,
            "unauthorized"),
        Case(
            "seeds: empty list", .post, "/api/v1/conversations/town/seeds", #"{"statements": []}"#, auth: .organiser,
            expect: 422, "invalid"),
        Case(
            "seeds: only duplicates", .post, "/api/v1/conversations/town/seeds",
            #"{"statements": ["the ai should be honest."]}"#,
            auth: .organiser, expect: 422),
        Case(
            "seeds: oversize", .post, "/api/v1/conversations/town/seeds", oversize, auth: .organiser, expect: 413,
            "body_too_large"),
        Case(
            "moderation: no credentials", .post, "/api/v1/conversations/town/moderation",
            #"{"statements": [1], "action": "accept"}"#,
            expect: 401, "unauthorized"),
        Case(
            "moderation: unknown action", .post, "/api/v1/conversations/town/moderation",
            #"{"statements": [1], "action": "burn"}"#,
            auth: .organiser, expect: 422, "invalid"),
        Case(
            "moderation: unknown statement", .post, "/api/v1/conversations/town/moderation",
            #"{"statements": [1, 9999], "action": "reject"}"#, auth: .organiser, expect: 422, "invalid"),
        Case(
            "moderation: too many statements", .post, "/api/v1/conversations/town/moderation",
            #"{"statements": [\#((1...1001).map(String.init).joined(separator: ","))], "action": "accept"}"#,
            auth: .organiser, expect: 422, "invalid"),
        Case(
            "moderation: no statements", .post, "/api/v1/conversations/town/moderation",
            #"{"statements": [], "action": "accept"}"#,
            auth: .organiser, expect: 422, "invalid"),
        Case("audit: no credentials", .get, "/api/v1/audit", expect: 401, "unauthorized"),
        Case("audit: bad offset", .get, "/api/v1/audit?offset=abc", auth: .organiser, expect: 400, "bad_request"),
        Case("unknown API route", .get, "/api/v1/nothing-here", expect: 404, "not_found"),
    ]

    @Test(arguments: apiCases) func apiRefusesAndChangesNothing(_ c: Case) async throws {
        let h = try await Harness.make()
        _ = try await h.store.moderate(
            statementIDs: [h.statements[4].id], conversationID: h.conversation.id, action: .reject(reason: ""),
            by: .system)
        try await h.test { client in
            let registered = try await client.json(.post, "/api/v1/conversations/town/participants", #"{"xid": "p"}"#)
            let token = try #require(try registered.decoded()["token"] as? String)
            let before = try h.snapshot()
            var headers: HTTPFields = [:]
            switch c.auth {
            case .none: break
            case .participant: headers[.authorization] = "Bearer \(token)"
            case .organiser: headers = h.organiserHeaders
            case .wrongOrganiser: headers[.authorization] = "Bearer co_not-a-real-token"
            case .wrongParticipant: headers[.authorization] = "Bearer cp_1_abc.forged"
            }
            if let type = c.contentType, c.body != nil { headers[.contentType] = type }
            let response = try await client.json(c.method, c.path, c.body, headers: headers)
            #expect(response.status.code == c.status, "\(response.text.prefix(300))")
            if let code = c.code { #expect(response.errorCode == code) }
            let message = (try? response.decoded()["error"] as? [String: Any])?["message"] as? String
            if c.code != nil { #expect(message?.isEmpty == false) }
            #expect(try h.snapshot() == before)
        }
    }

    static let formCases: [(name: String, path: String, form: String, contentType: String, status: Int)] = [
        ("vote: no CSRF token", "/c/town/vote", "statement=1&vote=agree", "application/x-www-form-urlencoded", 403),
        (
            "vote: wrong CSRF token", "/c/town/vote", "csrf=forged&statement=1&vote=agree",
            "application/x-www-form-urlencoded", 403
        ),
        ("vote: malformed encoding", "/c/town/vote", "csrf=%ZZ&statement=1", "application/x-www-form-urlencoded", 400),
        ("vote: JSON body", "/c/town/vote", #"{"statement": 1}"#, "application/json", 415),
        (
            "vote: statement not a number", "/c/town/vote", "csrf={csrf}&statement=abc&vote=agree",
            "application/x-www-form-urlencoded", 400
        ),
        ("vote: missing vote", "/c/town/vote", "csrf={csrf}&statement=1", "application/x-www-form-urlencoded", 400),
        (
            "vote: unknown value", "/c/town/vote", "csrf={csrf}&statement=1&vote=maybe",
            "application/x-www-form-urlencoded", 400
        ),
        (
            "vote: unknown statement", "/c/town/vote", "csrf={csrf}&statement=9999&vote=agree",
            "application/x-www-form-urlencoded", 404
        ),
        (
            "vote: rejected statement", "/c/town/vote", "csrf={csrf}&statement=5&vote=agree",
            "application/x-www-form-urlencoded", 422
        ),
        (
            "vote: unknown conversation", "/c/nope/vote", "csrf={csrf}&statement=1&vote=agree",
            "application/x-www-form-urlencoded", 404
        ),
        (
            "vote: oversize", "/c/town/vote",
            "csrf={csrf}&statement=1&vote=agree&pad=" + String(repeating: "x", count: 70_000),
            "application/x-www-form-urlencoded", 413
        ),
        ("statement: no CSRF", "/c/town/statements", "text=Hello", "application/x-www-form-urlencoded", 403),
        ("statement: missing text", "/c/town/statements", "csrf={csrf}", "application/x-www-form-urlencoded", 400),
        (
            "admin: create without session", "/admin/conversations", "csrf={csrf}&slug=x&title=T&question=Q",
            "application/x-www-form-urlencoded", 401
        ),
        (
            "admin: moderate without session", "/admin/conversations/town/moderation",
            "csrf={csrf}&statement=1&action=reject",
            "application/x-www-form-urlencoded", 401
        ),
        (
            "admin: login without CSRF", "/admin/login", "email=a%40b.c&password=x",
            "application/x-www-form-urlencoded", 403
        ),
    ]

    @Test(arguments: formCases.indices) func formsRefuseAndChangeNothing(_ index: Int) async throws {
        let c = Self.formCases[index]
        let h = try await Harness.make()
        _ = try await h.store.moderate(
            statementIDs: [h.statements[4].id], conversationID: h.conversation.id, action: .reject(reason: ""),
            by: .system)
        try await h.test { client in
            var browser = Browser(client: client)
            let page = try await browser.get("/c/town")
            let csrf = try #require(page.csrf)
            let before = try h.snapshot()
            let response = try await browser.post(
                c.path, rawBody: c.form.replacingOccurrences(of: "{csrf}", with: csrf), contentType: c.contentType)
            #expect(response.status.code == c.status, "\(c.name)")
            #expect(response.headers[.contentType]?.hasPrefix("text/html") == true, "\(c.name)")
            #expect(response.contains(#"class="error""#), "\(c.name)")
            #expect(try h.snapshot() == before, "\(c.name)")
        }
    }

    @Test func aBodyThatIsNotUTF8IsRefused() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            let before = try h.snapshot()
            var headers = h.organiserHeaders
            headers[.contentType] = "text/plain"
            let response = try await client.executeRequest(
                uri: "/api/v1/conversations/town/seeds", method: .post, headers: headers,
                body: ByteBuffer(bytes: [0x42, 0xFF, 0xFE, 0x0A]))
            #expect(response.status == .badRequest)
            #expect(response.errorCode == "bad_request")
            #expect(try h.snapshot() == before)
        }
    }

    /// A double tap (issue 15): answered like the first vote, and nothing more is stored.
    @Test func aDoubleSubmittedVoteChangesNothingAndIsAnsweredLikeTheFirst() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            let page = try await browser.get("/c/town")
            let form = [
                ("csrf", try #require(page.csrf)), ("statement", try #require(page.input("statement"))),
                ("vote", "agree"),
            ]
            let first = try await browser.post("/c/town/vote", form: form)
            #expect(first.contains("Vote recorded."))
            let before = try h.snapshot()
            let second = try await browser.post("/c/town/vote", form: form)
            #expect(second.status == .ok && second.path == "/c/town?done=vote")
            #expect(!second.contains("You have already cast this vote on this statement."))
            #expect(try h.snapshot() == before)
        }
    }

    @Test func adminFormsRefuseBadInputForASignedInOrganiser() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            let home = try await AdminSession.signIn(&browser)
            let csrf = try #require(home.csrf)
            let before = try h.snapshot()
            let cases: [(String, [(String, String)], Int)] = [
                ("/admin/conversations/nope/seeds", [("csrf", csrf), ("statements", "x")], 404),
                ("/admin/conversations/town/seeds", [("csrf", csrf)], 400),
                ("/admin/conversations/town/seeds", [("csrf", csrf), ("statements", " \n ")], 422),
                (
                    "/admin/conversations/town/moderation",
                    [("csrf", csrf), ("statement", "abc"), ("action", "accept")], 400
                ),
                (
                    "/admin/conversations/town/moderation",
                    [("csrf", csrf), ("statement", "9999"), ("action", "accept")], 422
                ),
                (
                    "/admin/conversations/town/moderation", [("csrf", csrf), ("statement", "1"), ("action", "burn")],
                    422
                ),
                ("/admin/conversations/town/moderation", [("csrf", csrf), ("action", "accept")], 422),
                ("/admin/conversations/town/moderation", [("csrf", csrf), ("single", "accept")], 400),
                ("/admin/conversations/town", [("csrf", csrf), ("max_statement_length", "lots")], 422),
                ("/admin/conversations/town", [("csrf", csrf), ("closes_at", "tomorrow")], 422),
                ("/admin/conversations/town", [("csrf", csrf), ("slug", "")], 422),
            ]
            for (path, form, status) in cases {
                let response = try await browser.post(path, form: form)
                #expect(response.status.code == status, "\(path) \(form)")
                #expect(response.contains(#"class="error""#), "\(path) \(form)")
            }
            let missing = try await browser.get("/admin/conversations/nope")
            #expect(missing.status == .notFound)
            #expect(try h.snapshot() == before)
        }
    }

    @Test func adminFormsNeedTheSessionsCSRFToken() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            try await AdminSession.signIn(&browser)
            let before = try h.snapshot()
            for token in ["", "forged"] {
                let response = try await browser.post(
                    "/admin/conversations/town/moderation",
                    form: [("csrf", token), ("statement", String(h.statements[0].id)), ("action", "reject")])
                #expect(response.status == .forbidden)
            }
            #expect(try h.snapshot() == before)
        }
    }
}
