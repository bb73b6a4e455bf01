import CharterDomain
import CharterHTTP
import CharterStore
import CharterTestSupport
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite struct RateLimitTests {
    @Test func votesBeyondAParticipantsBurstGet429WithRetryAfter() async throws {
        let h = try await Harness.make { $0.rateLimits.votesPerParticipant = RateLimit(rate: 0.01, burst: 2) }
        try await h.test { client in
            let registered = try await client.json(.post, "/api/v1/conversations/town/participants", "{}")
            let auth: HTTPFields = [
                .authorization: "Bearer \(try #require(try registered.decoded()["token"] as? String))"
            ]
            for statement in h.statements.prefix(2) {
                let ok = try await client.json(
                    .post, "/api/v1/conversations/town/votes", #"{"statement": \#(statement.id), "vote": "agree"}"#,
                    headers: auth)
                #expect(ok.status == .created)
            }
            let before = try h.snapshot()
            let limited = try await client.json(
                .post, "/api/v1/conversations/town/votes", #"{"statement": \#(h.statements[2].id), "vote": "agree"}"#,
                headers: auth)
            #expect(limited.status == .tooManyRequests)
            #expect(limited.errorCode == "rate_limited")
            let retryAfter = try #require(limited.headers[.retryAfter].flatMap(Int.init))
            #expect(retryAfter >= 1 && retryAfter <= 100)
            #expect(try h.snapshot() == before)

            // Another participant has a bucket of its own.
            let other = try await client.json(.post, "/api/v1/conversations/town/participants", "{}")
            let otherAuth: HTTPFields = [
                .authorization: "Bearer \(try #require(try other.decoded()["token"] as? String))"
            ]
            let ok = try await client.json(
                .post, "/api/v1/conversations/town/votes", #"{"statement": \#(h.statements[2].id), "vote": "agree"}"#,
                headers: otherAuth)
            #expect(ok.status == .created)
        }
    }

    @Test func statementsArePerIPLimitedOnTheHTMLFormsToo() async throws {
        let h = try await Harness.make { $0.rateLimits.statementsPerIP = RateLimit(rate: 0.01, burst: 1) }
        try await h.test { client in
            var first = Browser(client: client)
            var page = try await first.get("/c/town")
            page = try await first.post(
                "/c/town/statements", form: [("csrf", try #require(page.csrf)), ("text", "One idea")])
            #expect(page.status == .ok)
            var second = Browser(client: client)
            page = try await second.get("/c/town")
            let before = try h.snapshot()
            page = try await second.post(
                "/c/town/statements", form: [("csrf", try #require(page.csrf)), ("text", "Another idea")])
            #expect(page.status == .tooManyRequests)
            #expect(page.headers[.retryAfter] != nil)
            #expect(page.contains("Too many requests"))
            #expect(try h.snapshot() == before)
        }
    }

    @Test func signInAttemptsAreLimitedPerIP() async throws {
        let h = try await Harness.make { $0.rateLimits.loginsPerIP = RateLimit(rate: 0.01, burst: 3) }
        try await h.test { client in
            var browser = Browser(client: client)
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<4 {
                statuses.append(try await AdminSession.signIn(&browser, password: "guess-guess-guess").status)
            }
            #expect(statuses == [.unauthorized, .unauthorized, .unauthorized, .tooManyRequests])
        }
    }
}

@Suite struct OpenAPITests {
    @Test func everyRouteIsDocumentedAndEveryDocumentedRouteExists() async throws {
        let h = try await Harness.make()
        let router = try await h.router()
        let routed = Set(
            router.routes.map { "\($0.method.rawValue) \($0.path)" }.filter { $0.contains(" /api/v1") })
        let document = try await h.test { client in
            try await client.json(.get, "/api/v1/openapi.json").text
        }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(document.utf8)) as? [String: Any])
        #expect((json["openapi"] as? String)?.hasPrefix("3.1") == true)
        let paths = try #require(json["paths"] as? [String: [String: Any]])
        let methods: Set<String> = ["get", "post", "put", "patch", "delete"]
        let documented = Set(
            paths.flatMap { path, operations in
                operations.keys.filter(methods.contains).map { "\($0.uppercased()) \(path)" }
            })
        #expect(routed.count >= 14)
        #expect(routed.subtracting(documented).isEmpty, "undocumented: \(routed.subtracting(documented).sorted())")
        #expect(
            documented.subtracting(routed).isEmpty,
            "documented but not routed: \(documented.subtracting(routed).sorted())")
    }
}

@Suite struct HealthAndMetricsTests {
    @Test func healthReadsTheDatabase() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            let response = try await client.json(.get, "/healthz")
            #expect(response.status == .ok)
            let body = try response.decoded()
            #expect(body["status"] as? String == "ok")
            #expect(body["conversations"] as? Int == 1)
        }
    }

    @Test func metricsCountRequestsVotesAndLatency() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            let registered = try await client.json(.post, "/api/v1/conversations/town/participants", "{}")
            let auth: HTTPFields = [
                .authorization: "Bearer \(try #require(try registered.decoded()["token"] as? String))"
            ]
            for statement in h.statements.prefix(3) {
                _ = try await client.json(
                    .post, "/api/v1/conversations/town/votes", #"{"statement": \#(statement.id), "vote": "pass"}"#,
                    headers: auth)
            }
            _ = try await client.json(.get, "/c/missing")
            // Methods outside the usual few share one series, so clients cannot add series.
            _ = try await client.json(try #require(HTTPRequest.Method("PROPFIND")), "/c/town")
            let text = try await client.json(.get, "/metrics").text
            #expect(text.contains(#"charter_http_requests_total{method="OTHER",status="4xx"} 1"#))
            #expect(!text.contains("PROPFIND"))
            #expect(text.contains("charter_votes_total 3"))
            #expect(text.contains(#"charter_http_requests_total{method="POST",status="2xx"} 4"#))
            #expect(text.contains(#"charter_http_requests_total{method="GET",status="4xx"} 1"#))
            #expect(text.contains("charter_http_request_duration_seconds_bucket"))
            #expect(text.contains("charter_stored_votes 3"))
        }
    }
}

@Suite struct CredentialTests {
    @Test func passwordsUseSixHundredThousandRoundsOfPBKDF2() throws {
        let hasher = PasswordHasher()
        #expect(hasher.rounds >= 600_000)
        let stored = try hasher.hash("a long enough password")
        #expect(stored.hasPrefix("pbkdf2-sha256$600000$"))
        #expect(hasher.verify("a long enough password", against: stored))
        #expect(!hasher.verify("a long enough passworD", against: stored))
        #expect(try hasher.hash("a long enough password") != stored, "each hash has its own salt")
    }

    @Test func malformedStoredHashesNeverVerify() {
        let hasher = PasswordHasher(rounds: 1000)
        for stored in ["", "pbkdf2-sha256$0$AA$AA", "md5$1$x$y", "pbkdf2-sha256$1000$!!$??"] {
            #expect(!hasher.verify("x", against: stored))
        }
    }

    @Test func signaturesBindValueAndPurpose() {
        let signer = Signer(secret: "s1")
        let signed = signer.sign("participant-7", purpose: "browser")
        #expect(signer.verified(signed, purpose: "browser") == "participant-7")
        #expect(signer.verified(signed, purpose: "csrf") == nil)
        #expect(Signer(secret: "s2").verified(signed, purpose: "browser") == nil)
        #expect(
            signer.verified(signed.replacingOccurrences(of: "participant-7", with: "participant-8"), purpose: "browser")
                == nil)
        #expect(signer.verified("no-dot", purpose: "browser") == nil)
    }

    @Test func signaturesAreTheHMACOfPurposeAndValueWhateverCameBefore() {
        let signer = Signer(secret: "s1")
        let key = SymmetricKey(data: Array(SHA256.hash(data: Array("charter-signing:s1".utf8))))
        // Many signatures in a row, interleaved: the kept HMAC state must not carry over.
        for value in ["a", "participant-7", "", "ü-\(String(repeating: "x", count: 300))", "a"] {
            for purpose in ["browser", "csrf"] {
                let expected = HMAC<SHA256>.authenticationCode(
                    for: Array("\(purpose)\u{0}\(value)".utf8), using: key)
                let given = signer.signature(of: value, purpose: purpose)
                let base64URL = Data(expected).base64EncodedString()
                    .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                    .replacingOccurrences(of: "=", with: "")
                #expect(given == base64URL)
            }
        }
    }

    @Test func theSecretLivesInAPrivateFileBesideTheDatabaseNeverInIt() async throws {
        let h = try await Harness.make()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let database = folder.appendingPathComponent("charter.sqlite").path
        // A database from before kept the secret as a setting: it moves to the file.
        _ = try await h.store.settingInsertingIfAbsent("cookie_secret", value: "legacy-secret")
        let first = try await InstanceSecret.load(
            environment: nil, secretFile: nil, databasePath: database, store: h.store)
        #expect(first == "legacy-secret")
        let stored = try await h.store.setting("cookie_secret")
        #expect(stored == nil)
        let attributes = try FileManager.default.attributesOfItem(atPath: database + ".secret")
        let mode = try #require(attributes[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        let again = try await InstanceSecret.load(
            environment: nil, secretFile: nil, databasePath: database, store: h.store)
        #expect(again == first)
        let fromEnvironment = try await InstanceSecret.load(
            environment: "from-env", secretFile: nil, databasePath: database, store: h.store)
        #expect(fromEnvironment == "from-env")
        // A fresh instance generates a long random secret.
        let fresh = try await InstanceSecret.load(
            environment: nil, secretFile: folder.appendingPathComponent("other.secret").path, databasePath: database,
            store: h.store)
        #expect(fresh.count >= 40 && fresh != first)
    }
}
