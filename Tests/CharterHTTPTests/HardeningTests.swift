import CharterDomain
import CharterInput
import CharterStore
import CharterTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import ZIPFoundation

@testable import CharterHTTP

/// One test per finding of the security review (issue 12), each of which failed on the code
/// before it: crashes, forged panel ids, ballot stuffing, lockout bypass, zip bombs, ownership,
/// run paths, length limits.
@Suite struct HardeningTests {
    static func multipart(_ files: [(String, String)], boundary: String = "b0undary") -> ByteBuffer {
        var body = Data()
        for (name, text) in files {
            body += Data(
                "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(name)\"\r\n\r\n".utf8)
            body += Data(text.utf8)
            body += Data("\r\n".utf8)
        }
        body += Data("--\(boundary)--\r\n".utf8)
        return ByteBuffer(bytes: body)
    }

    // Finding 1
    @Test func shortCSVRowsAreRefusedNotACrash() async throws {
        let h = try await Harness.make()
        var headers = h.organiserHeaders
        headers[.contentType] = "multipart/form-data; boundary=b0undary"
        let header = "xid,participant,group-id,n-comments,n-votes,n-agree,n-disagree"
        let cases: [[(String, String)]] = [
            [("participants-votes.csv", "\(header)\nabc")],
            [("participants-votes.csv", "\(header),7\n1,2"), ("votes.csv", "vote,timestamp,comment-id,voter-id\n1")],
            [("participants-votes.csv", "\(header)\n,5,1"), ("comments.csv", "comment-body,comment-id\nhello")],
        ]
        let sent = headers
        try await h.test { client in
            for files in cases {
                let response = try await client.executeRequest(
                    uri: "/api/v1/conversations/import?slug=short", method: .post, headers: sent,
                    body: Self.multipart(files))
                #expect(response.status == .unprocessableContent, "\(files)")
                #expect(response.errorCode == "invalid")
            }
            let alive = try await client.json(.get, "/healthz")
            #expect(alive.status == .ok)
        }
    }

    @Test func theParserReadsShortRowsWithCheckedAccess() throws {
        let header = "xid,participant,group-id,n-comments,n-votes,n-agree,n-disagree"
        #expect(throws: PolisExport.ParseError.self) {
            try PolisExport.parse(participantsVotes: "\(header)\nabc", comments: nil)
        }
        #expect(throws: PolisExport.ParseError.self) {
            try PolisExport.parse(
                participantsVotes: header, comments: nil, votes: "vote,timestamp,comment-id,voter-id\n1")
        }
        // A short row with a valid participant id is a participant without votes, not an error.
        let export = try PolisExport.parse(participantsVotes: "\(header),5\n,9", comments: nil)
        #expect(export.participants.map(\.id) == [9])
        // Flags read as true/false or 1/0 in any case.
        let flagged = try PolisExport.parse(
            participantsVotes: header, comments: "comment-id,comment-body,is-meta,is-seed\n1,a,TRUE,1\n2,b,0,False")
        #expect(flagged.comments.map(\.isMeta) == [true, false])
        #expect(flagged.comments.map(\.isSeed) == [true, false])
    }

    // Finding 2
    @Test func offsetsThatWouldOverflowAreA400() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            for path in [
                "/api/v1/audit?offset=9223372036854775807",
                "/api/v1/conversations/town/audit?offset=9223372036854775807",
                "/api/v1/conversations/town/statements?offset=9223372036854775807",
                "/api/v1/runs?offset=9223372036854775807", "/api/v1/audit?limit=501", "/api/v1/runs?limit=0",
                "/api/v1/audit?offset=-1",
            ] {
                let response = try await client.json(.get, path, headers: h.organiserHeaders)
                #expect(response.status == .badRequest, "\(path)")
            }
            var browser = Browser(client: client)
            try await AdminSession.signIn(&browser)
            for path in [
                "/admin/audit?offset=9223372036854775807",
                "/admin/conversations/town/moderation?moderation=all&offset=9223372036854775807",
            ] {
                let page = try await browser.get(path)
                #expect(page.status == .badRequest, "\(path)")
            }
        }
    }

    // Finding 3
    @Test func aBoundPanelIDBelongsToTheFirstBrowser() async throws {
        let h = try await Harness.make(conversation: { $0.xidPolicy = .bound })
        try await h.test { client in
            var alice = Browser(client: client)
            let page = try await alice.get("/c/town?xid=alice")
            #expect(page.status == .ok)
            var mallory = Browser(client: client)
            let stolen = try await mallory.get("/c/town?xid=alice")
            #expect(stolen.status == .forbidden)
            // Mallory's own CSRF token, with Alice's xid in the form, is refused.
            let own = try await mallory.get("/c/town")
            let forged = try await mallory.post(
                "/c/town/vote",
                form: [
                    ("csrf", try #require(own.csrf)), ("xid", "alice"), ("statement", "\(h.statements[0].id)"),
                    ("vote", "agree"),
                ])
            #expect(forged.status == .forbidden)
            // The API cannot mint a token for a bound xid either, however it is spelled.
            for spelling in ["alice", " alice\t", "alice\n"] {
                let body = try String(data: JSONEncoder().encode(["xid": spelling]), encoding: .utf8)
                let response = try await client.json(.post, "/api/v1/conversations/town/participants", body)
                #expect(response.status == .forbidden, "\(spelling.debugDescription)")
                #expect(response.errorCode == "xid_in_use")
            }
            // Alice votes from her own browser.
            let vote = try await alice.post(
                "/c/town/vote",
                form: [
                    ("csrf", try #require(page.csrf)), ("xid", "alice"), ("statement", "\(h.statements[0].id)"),
                    ("vote", "agree"),
                ])
            #expect(vote.status == .ok)
            // Released by an organiser (audited), the id can be bound again.
            let release = try await client.json(
                .post, "/api/v1/conversations/town/xids/release", #"{"xid": "alice"}"#, headers: h.organiserHeaders)
            #expect(release.status == .ok)
            let again = try await mallory.get("/c/town?xid=alice")
            #expect(again.status == .ok)
        }
        let audit = try await h.store.auditLog(conversationID: h.conversation.id, offset: 0, limit: 50)
        #expect(audit.items.contains { $0.action == "participant.release" && $0.detail == "alice" })
    }

    @Test func nfcAndNFDSpellingsNameOneParticipant() async throws {
        let h = try await Harness.make(conversation: { $0.xidPolicy = .open })
        try await h.test { client in
            let composed = try await client.json(
                .post, "/api/v1/conversations/town/participants", #"{"xid": "jos\#u{E9}"}"#)
            let decomposed = try await client.json(
                .post, "/api/v1/conversations/town/participants", #"{"xid": "jose\#u{301}"}"#)
            let first = try composed.decoded()["participant"] as? [String: Any]
            let second = try decomposed.decoded()["participant"] as? [String: Any]
            #expect(first?["id"] as? Int != nil)
            #expect(first?["id"] as? Int == second?["id"] as? Int)
        }
    }

    @Test func signedLinksNeedTheirSignature() async throws {
        let h = try await Harness.make(conversation: { $0.xidPolicy = .signed })
        try await h.test { client in
            let list = try await client.json(.get, "/api/v1/conversations", headers: h.organiserHeaders)
            let conversations = try list.decoded()["conversations"] as? [[String: Any]]
            let secret = try #require(conversations?.first?["xid_secret"] as? String)
            let sig = Signer.xidSignature(xid: "p-42", secret: secret)
            var browser = Browser(client: client)
            #expect(try await browser.get("/c/town?xid=p-42").status == .forbidden)
            #expect(
                try await browser.get("/c/town?xid=p-42&sig=\(String(repeating: "0", count: 64))").status == .forbidden)
            let page = try await browser.get("/c/town?xid=p-42&sig=\(sig)")
            #expect(page.status == .ok)
            #expect(page.input("sig") == sig)
            let api = try await client.json(
                .post, "/api/v1/conversations/town/participants", #"{"xid": "p-43", "sig": "nope"}"#)
            #expect(api.status == .forbidden)
        }
    }

    @Test func anAllowListAdmitsOnlyItsIDs() async throws {
        let h = try await Harness.make(conversation: { $0.xidPolicy = .allowList })
        try await h.test { client in
            let put = try await client.json(
                .put, "/api/v1/conversations/town/xids", #"{"xids": ["p1", "p2"]}"#, headers: h.organiserHeaders)
            #expect(put.status == .ok)
            var browser = Browser(client: client)
            #expect(try await browser.get("/c/town?xid=p3").status == .forbidden)
            #expect(try await browser.get("/c/town?xid=p1").status == .ok)
        }
    }

    // Finding 4
    @Test func newParticipantsAreRateLimitedPerAddress() async throws {
        let h = try await Harness.make({ $0.rateLimits.participantsPerIP = RateLimit(rate: 0.001, burst: 5) })
        try await h.test { client in
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<8 {
                statuses.append(try await client.json(.post, "/api/v1/conversations/town/participants", "{}").status)
            }
            #expect(statuses.prefix(5).allSatisfy { $0 == .created })
            #expect(statuses.suffix(3).allSatisfy { $0 == .tooManyRequests })
        }
    }

    // Finding 5
    @Test func theLockoutCannotBeBypassedByAnotherSpelling() async throws {
        let h = try await Harness.make({
            $0.rateLimits.loginFailuresPerAccount = RateLimit(rate: 0.0001, burst: 2)
        })
        try await h.test { client in
            var browser = Browser(client: client)
            for _ in 0..<2 {
                let login = try await browser.get("/admin/login")
                _ = try await browser.post(
                    "/admin/login",
                    form: [("csrf", try #require(login.csrf)), ("email", Harness.email), ("password", "wrong!")])
            }
            for spelling in [Harness.email, Harness.email + "\n", " " + Harness.email.uppercased() + "\r\n"] {
                let login = try await browser.get("/admin/login")
                let page = try await browser.post(
                    "/admin/login",
                    form: [("csrf", try #require(login.csrf)), ("email", spelling), ("password", Harness.password)])
                #expect(page.status == .tooManyRequests, "\(spelling.debugDescription)")
            }
        }
    }

    @Test func anUnknownEmailCostsTheSameKeyDerivationAsAWrongPassword() async throws {
        let h = try await Harness.make()
        let counter = h.configuration.passwordHasher.evaluations
        try await h.test { client in
            var browser = Browser(client: client)
            var costs: [Int] = []
            for email in ["nobody@example.org", Harness.email] {
                let login = try await browser.get("/admin/login")
                let before = counter.value
                let page = try await browser.post(
                    "/admin/login",
                    form: [("csrf", try #require(login.csrf)), ("email", email), ("password", "wrong!")])
                #expect(page.status == .unauthorized)
                costs.append(counter.value - before)
            }
            #expect(costs == [1, 1])
        }
    }

    // Finding 6
    @Test func aZipBombIsRefusedWith413() async throws {
        // 64 MiB of one byte deflates about a thousandfold.
        let archive = try Archive(data: Data(), accessMode: .create)
        let size = 64 * 1024 * 1024
        let chunk = Data(repeating: UInt8(ascii: "1"), count: 1 << 20)
        try archive.addEntry(
            with: "bomb/votes.csv", type: .file, uncompressedSize: Int64(size), compressionMethod: .deflate
        ) { (_: Int64, length: Int) -> Data in chunk.prefix(length) }
        try archive.addEntry(
            with: "bomb/participants-votes.csv", type: .file, uncompressedSize: 7, compressionMethod: .none
        ) { (_: Int64, _: Int) -> Data in Data("x,y,z\n\n".utf8) }
        let zip = try #require(archive.data)
        #expect(zip.count < 200_000)
        #expect(throws: ImportReadError.self) { try PolisArchive.unzip(zip, limits: ImportLimits()) }
        let h = try await Harness.make()
        var headers = h.organiserHeaders
        headers[.contentType] = "application/zip"
        let sent = headers
        try await h.test { client in
            let response = try await client.executeRequest(
                uri: "/api/v1/conversations/import?slug=bomb", method: .post, headers: sent,
                body: ByteBuffer(bytes: zip))
            #expect(response.status == .contentTooLarge)
            #expect(response.errorCode == "import_too_large")
        }
        // A directory that understates the size is caught while inflating.
        var lying = ImportLimits()
        lying.maxUncompressedBytes = 1 << 20
        lying.maxCompressionRatio = 100_000
        #expect(throws: ImportReadError.self) { try PolisArchive.unzip(zip, limits: lying) }
    }

    // Finding 7
    @Test func organisersActOnlyOnTheirOwnConversations() async throws {
        let h = try await Harness.make()
        let other = try await h.store.createOrganiser(email: "b@example.org", passwordHash: "x")
        let token = SecureToken.make(prefix: "co_")
        try await h.store.storeAPIToken(organiserID: other.id, tokenHash: SecureToken.digest(token), label: "b")
        let b: HTTPFields = [.authorization: "Bearer \(token)"]
        let constitution = try await Fixtures.publishConstitution(in: h.store, conversationID: h.conversation.id)
        let run = try await h.store.createRun(
            NewComparisonRun(
                ccaiConstitutionID: constitution, baselineSource: "test", baselineBody: Data("{}".utf8),
                baselineSHA256: "x", profile: .smoke, seed: 1, parameters: [:], pipelineCommand: "true"),
            by: .system)
        try await h.test { client in
            for (method, path, body) in [
                (HTTPRequest.Method.patch, "/api/v1/conversations/town", #"{"title": "Mine now"}"#),
                (.post, "/api/v1/conversations/town/moderation", #"{"statements": [1], "action": "accept"}"#),
                (.post, "/api/v1/conversations/town/seeds", #"{"statements": ["Planted"]}"#),
                (.get, "/api/v1/conversations/town/audit", nil), (.get, "/api/v1/conversations/town/analysis", nil),
                (.post, "/api/v1/runs/\(run.id)/cancel", nil), (.get, "/api/v1/constitutions/\(constitution)", nil),
                (.get, "/api/v1/audit", nil),
            ] {
                let response = try await client.json(method, path, body, headers: b)
                #expect(response.status == .forbidden, "\(method) \(path)")
            }
            let listed = try await client.json(.get, "/api/v1/conversations", headers: b)
            #expect((try listed.decoded()["conversations"] as? [Any])?.isEmpty == true)
            // B's own conversation is B's to run; A (the admin) sees it too.
            let created = try await client.json(
                .post, "/api/v1/conversations", #"{"slug": "bees", "title": "Bees", "question": "Bees?"}"#, headers: b)
            #expect(created.status == .created)
            let edited = try await client.json(.patch, "/api/v1/conversations/bees", #"{"title": "Hives"}"#, headers: b)
            #expect(edited.status == .ok)
            // A moderator moderates but does not edit.
            let member = try await client.json(
                .put, "/api/v1/conversations/town/members", #"{"email": "b@example.org", "role": "moderator"}"#,
                headers: h.organiserHeaders)
            #expect(member.status == .ok)
            let moderation = try await client.json(
                .post, "/api/v1/conversations/town/moderation",
                #"{"statements": [\#(h.statements[0].id)], "action": "accept"}"#, headers: b)
            #expect(moderation.status == .ok)
            let patch = try await client.json(.patch, "/api/v1/conversations/town", #"{"title": "x"}"#, headers: b)
            #expect(patch.status == .forbidden)
        }
        let unchanged = try await h.store.conversation(id: h.conversation.id)
        #expect(unchanged?.settings.title == h.conversation.settings.title)
        let stillQueued = try await h.store.run(id: run.id)
        #expect(stillQueued?.state == .queued)
    }

    @Test func anImportCannotAddToANativeConversation() async throws {
        let h = try await Harness.make()
        var headers = h.organiserHeaders
        headers[.contentType] = "multipart/form-data; boundary=b0undary"
        let header = "xid,participant,group-id,n-comments,n-votes,n-agree,n-disagree,\(h.statements[0].id)"
        let sent = headers
        try await h.test { client in
            let response = try await client.executeRequest(
                uri: "/api/v1/conversations/import?slug=town", method: .post, headers: sent,
                body: Self.multipart([("participants-votes.csv", "\(header)\n,900,,1,1,1,0,1\n")]))
            #expect(response.status == .conflict)
        }
        let participants = try await h.store.participants(conversationID: h.conversation.id)
        #expect(participants.isEmpty)
    }

    // Finding 8
    @Test func runPathsStayInsideTheirFoldersAndErrorsRevealNothing() async throws {
        let h = try await Harness.make()
        let constitution = try await Fixtures.publishConstitution(in: h.store, conversationID: h.conversation.id)
        try await h.test { client in
            var messages: [String] = []
            for path in ["/etc/passwd", "/nonexistent/secret.jsonl"] {
                let body =
                    #"{"constitution_id": \#(constitution), "profile": "smoke", "parameters": {"prompts_path": "\#(path)"}}"#
                let response = try await client.json(.post, "/api/v1/runs", body, headers: h.organiserHeaders)
                #expect(response.status == .unprocessableContent)
                let error = try response.decoded()["error"] as? [String: Any]
                messages.append(((error?["message"] as? String) ?? "").replacingOccurrences(of: path, with: "P"))
            }
            #expect(messages.count == 2 && messages[0] == messages[1])
        }
    }

    // Finding 10
    @Test func lengthLimitsCountScalarsAndBytesToo() throws {
        let flood = "a" + String(repeating: "\u{301}", count: 15_000)
        #expect(flood.count == 1)
        #expect(throws: CharterError.self) { try StatementText.validated(flood, maxLength: 140) }
        // Arabic with its vowel marks, 140 characters, fits.
        let arabic = String(repeating: "\u{0643}\u{064E}", count: 140)
        #expect(arabic.count == 140)
        #expect(try StatementText.validated(arabic, maxLength: 140) == arabic)
        #expect(throws: CharterError.self) {
            try ParticipantIdentity.validatedXID("x" + String(repeating: "\u{301}", count: 5000))
        }
    }
}

/// Inputs the fuzzer (scripts/fuzz) found that trapped, hung or overran memory in the zip reader
/// the import used; kept in the seed corpus and replayed here.
@Suite struct FuzzRegressionTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus/polis-zip")

    @Test(arguments: ["regression-size-past-end", "regression-truncated-deflate", "regression-offset-past-end"])
    func damagedZipsAreRefused(_ name: String) throws {
        let data = try Data(contentsOf: Self.corpus.appendingPathComponent(name))
        #expect(throws: ImportReadError.self) { try PolisArchive.unzip(data, limits: ImportLimits()) }
    }

    @Test func everySeedIsReadWithoutATrap() throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path) {
            let data = try Data(contentsOf: Self.corpus.appendingPathComponent(name))
            if let files = try? PolisArchive.unzip(data, limits: ImportLimits()) {
                _ = try? PolisArchive.export(files, limits: ImportLimits())
            }
        }
        let full = try Data(contentsOf: Self.corpus.appendingPathComponent("full"))
        let files = try PolisArchive.unzip(full, limits: ImportLimits())
        #expect(Set(files.keys) == Set(PolisArchive.fileNames))
    }
}

@Suite struct ClientAddressTests {
    @Test func forwardedAddressesCountOnlyFromTrustedProxies() throws {
        let proxies = try #require(CIDR.list("10.0.0.0/8, ::1/128"))
        #expect(
            ForwardedFor.client(
                peer: "10.1.2.3", forwarded: [], xForwardedFor: ["203.0.113.9, 10.0.0.7"], trusted: proxies)
                == "203.0.113.9")
        // A client cannot pretend to be someone else by writing the header itself.
        #expect(
            ForwardedFor.client(peer: "198.51.100.4", forwarded: [], xForwardedFor: ["203.0.113.9"], trusted: proxies)
                == "198.51.100.4")
        // Only the hops our proxies added are believed: the spoofed first entry is skipped.
        #expect(
            ForwardedFor.client(
                peer: "10.0.0.1", forwarded: [], xForwardedFor: ["1.2.3.4, 198.51.100.7, 10.0.0.2"], trusted: proxies)
                == "198.51.100.7")
        #expect(
            ForwardedFor.client(
                peer: "::1", forwarded: [#"for="[2001:db8::17]:4711";proto=https, for=10.0.0.3"#], xForwardedFor: [],
                trusted: proxies) == "2001:db8::17")
        #expect(
            ForwardedFor.client(peer: "::ffff:10.0.0.5", forwarded: [], xForwardedFor: ["192.0.2.1"], trusted: proxies)
                == "192.0.2.1")
        #expect(
            ForwardedFor.client(peer: "10.0.0.1", forwarded: [], xForwardedFor: ["junk"], trusted: proxies)
                == "10.0.0.1")
        #expect(CIDR.list("10.0.0.0/33") == nil)
        #expect(CIDR.list("nonsense") == nil)
    }

    @Test func theRateLimiterForgetsABucketOnlyByItsOwnLimit() throws {
        let limiter = RateLimiter(pruneAbove: 4)
        let slow = RateLimit(rate: 1.0 / 3600, burst: 1)
        let fast = RateLimit(rate: 1_000_000, burst: 1)
        try limiter.consume("slow", limit: slow)
        for index in 0..<2_000 { try limiter.consume("fast-\(index)", limit: fast) }
        #expect(throws: AppError.self) { try limiter.consume("slow", limit: slow) }
        // Buckets that refilled are forgotten: the table stays far below the number of callers.
        #expect(limiter.count < 500)
    }
}

@Suite struct BallotStuffingHTTPTests {
    @Test func stuffedBallotsAreFlaggedAndTheBuilderCanLeaveThemOut() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            // One address makes 22 participants who all vote the same way on every statement.
            for _ in 0..<22 {
                let registered = try await client.json(.post, "/api/v1/conversations/town/participants", "{}")
                let token = try #require(try registered.decoded()["token"] as? String)
                for statement in h.statements {
                    let vote = try await client.json(
                        .post, "/api/v1/conversations/town/votes",
                        #"{"statement": \#(statement.id), "vote": "agree"}"#,
                        headers: [.authorization: "Bearer \(token)"])
                    #expect(vote.status == .created)
                }
            }
            let flagged = try await client.json(
                .get, "/api/v1/conversations/town/participants/flagged", headers: h.organiserHeaders)
            let rows = try #require(try flagged.decoded()["participants"] as? [[String: Any]])
            #expect(rows.count == 22)
            #expect((rows.first?["reasons"] as? [String])?.contains("address_burst") == true)
            let compiled = try await client.json(
                .get, "/api/v1/conversations/town/compile?exclude_flagged=true", headers: h.organiserHeaders)
            #expect(compiled.status == .ok)
            #expect(compiled.text.contains(#""removed_as_flagged":22"#))
        }
    }
}

@Suite struct AuditWordingTests {
    @Test func theAuditLogReadsSettingsAsPeopleWriteThem() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            let patched = try await client.json(
                .patch, "/api/v1/conversations/town", #"{"completion_code": "x\u200c"}"#, headers: h.organiserHeaders)
            #expect(patched.status == .ok)
        }
        let audit = try await h.store.auditLog(conversationID: h.conversation.id, offset: 0, limit: 10)
        let edit = try #require(audit.items.first { $0.action == "conversation.edit" })
        #expect(edit.detail == "completionCode: none → \"x\u{200C}\"")
        #expect(!edit.detail.contains("Optional"))
    }
}

@Suite struct AdminAccessPagesTests {
    @Test func anAdminInvitesAnOrganiserWhoSeesOnlyWhatTheyAreGiven() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var admin = Browser(client: client)
            try await AdminSession.signIn(&admin)
            let organisers = try await admin.get("/admin/organisers")
            #expect(organisers.status == .ok)
            let created = try await admin.post(
                "/admin/organisers",
                form: [
                    ("csrf", try #require(organisers.csrf)), ("email", "new@example.org"),
                    ("password", "a long first passphrase"),
                ])
            #expect(created.status == .ok)
            #expect(created.contains("new@example.org"))
            // The owner's page shows the panel-id secret and the members form.
            let page = try await admin.get("/admin/conversations/town")
            #expect(page.contains("Signing secret"))
            // The invited organiser signs in and sees no conversation, and cannot open this one.
            var invited = Browser(client: client)
            let login = try await invited.get("/admin/login")
            let home = try await invited.post(
                "/admin/login",
                form: [
                    ("csrf", try #require(login.csrf)), ("email", "new@example.org"),
                    ("password", "a long first passphrase"),
                ])
            #expect(home.path == "/admin")
            #expect(!home.contains("Town hall"))
            #expect(try await invited.get("/admin/conversations/town").status == .forbidden)
            #expect(try await invited.get("/admin/organisers").status == .forbidden)
            // Made a moderator, they can open the moderation queue but not the settings' owner parts.
            let member = try await admin.post(
                "/admin/conversations/town/members",
                form: [("csrf", try #require(page.csrf)), ("email", "new@example.org"), ("role", "moderator")])
            #expect(member.status == .ok)
            #expect(try await invited.get("/admin/conversations/town/moderation").status == .ok)
            let moderatorView = try await invited.get("/admin/conversations/town")
            #expect(moderatorView.status == .ok)
            #expect(!moderatorView.contains("Signing secret"))
            // The settings form sets the panel-id policy.
            let form = try await admin.get("/admin/conversations/town")
            let saved = try await admin.post(
                "/admin/conversations/town",
                form: [
                    ("csrf", try #require(form.csrf)), ("slug", "town"), ("title", "Town hall"),
                    ("question", "How should our AI behave?"), ("state", "open"), ("xid_policy", "signed"),
                    ("max_statement_length", "140"),
                ])
            #expect(saved.status == .ok)
        }
        let conversation = try await h.store.conversation(slug: "town")
        #expect(conversation?.settings.xidPolicy == .signed)
    }
}

@Suite struct TemplateTests {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources/CharterHTTP")

    /// Every view model's template exists, and every template is some view's or a partial.
    @Test func everyViewsTemplateResolves() async throws {
        let views = try await Views.load()
        var named: Set<String> = []
        let files = try FileManager.default.subpathsOfDirectory(atPath: Self.sources.path).filter {
            $0.hasSuffix(".swift")
        }
        let pattern = try Regex(#"static let template = "([a-z_]+)""#)
        for file in files {
            let text = try String(contentsOf: Self.sources.appendingPathComponent(file), encoding: .utf8)
            for match in text.matches(of: pattern) {
                if let name = match.output[1].substring { named.insert(String(name)) }
            }
        }
        #expect(named.count >= 15)
        for name in named { #expect(views.has(name), "\(name)") }
        let templates = try FileManager.default.contentsOfDirectory(
            atPath: Self.sources.appendingPathComponent("Templates").path
        ).map { String($0.dropLast(".mustache".count)) }
        let partials: Set<String> = ["layout", "admin_nav", "admin_conversation_form", "admin_moderation_card"]
        #expect(Set(templates).subtracting(partials) == named)
        #expect(!views.has("no_such_template"))
    }
}
