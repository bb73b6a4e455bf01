import CharterCompiler
import CharterDomain
import CharterHTTP
import CharterServices
import CharterStore
import CharterTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite struct ConstitutionHTTPTests {
    @Test func compilePublishDownloadRewordAndDiff() async throws {
        let h = try await Harness.make()
        try await AnalysisHTTPTests.vote(h)
        try await h.test { client in
            let auth = h.organiserHeaders
            let preview = try await client.json(.get, "/api/v1/conversations/town/compile?rule=ccai", headers: auth)
            #expect(preview.status == .ok)
            let decisions = try #require(try preview.decoded()["decisions"] as? [[String: Any]])
            #expect(decisions.count == 5)
            let kept = decisions.filter { $0["kept"] as? Bool == true }.compactMap { $0["statement"] as? Int }
            // Only the first statement is agreed by both camps.
            #expect(kept == [Int(h.statements[0].id)])

            let published = try await client.json(
                .post, "/api/v1/conversations/town/constitutions", "{}", headers: auth)
            #expect(published.status == .created)
            let first = try published.decoded()
            #expect(first["version"] as? Int == 1)
            let id = try #require(first["id"] as? Int)
            let sha = try #require(first["sha256"] as? String)

            let json = try await client.json(.get, "/api/v1/constitutions/\(id)?format=json", headers: auth)
            let constitution = try Constitution.decode(Data(json.text.utf8))
            #expect(constitution.version == 1 && constitution.sha256 == sha)
            #expect(constitution.snapshot?.votes == 150 && constitution.snapshot?.groups == 2)
            #expect(
                constitution.snapshot?.lastVoteEvent
                    == (try await h.store.lastVoteEvent(conversationID: h.conversation.id)))
            #expect(try constitution.hashed().sha256 == sha, "the stored hash is the hash of the stored content")
            #expect(constitution.principles.first?.text == "Choose the response that is honest.")
            for format in ["md", "cai", "txt"] {
                let response = try await client.json(
                    .get, "/api/v1/constitutions/\(id)?format=\(format)", headers: auth)
                #expect(response.status == .ok)
                #expect(response.text.contains("Choose the response that is honest."))
            }

            let reword = try await client.json(
                .put, "/api/v1/conversations/town/principles/\(h.statements[0].id)",
                #"{"text": "Choose the response that is most truthful."}"#, headers: auth)
            #expect(reword.status == .noContent)
            let second = try await client.json(.post, "/api/v1/conversations/town/constitutions", "{}", headers: auth)
            let secondID = try #require(try second.decoded()["id"] as? Int)
            #expect(try second.decoded()["version"] as? Int == 2)
            #expect(try second.decoded()["sha256"] as? String != sha)
            let diff = try await client.json(.get, "/api/v1/constitutions/\(id)/diff/\(secondID)", headers: auth)
            let reworded = try #require(try diff.decoded()["reworded"] as? [[String: Any]])
            #expect(reworded.first?["after"] as? String == "Choose the response that is most truthful.")

            let list = try await client.json(.get, "/api/v1/conversations/town/constitutions", headers: auth)
            #expect((try list.decoded()["constitutions"] as? [Any])?.count == 2)
            let audit = try await h.store.auditLog(conversationID: h.conversation.id, offset: 0, limit: 100)
            #expect(audit.items.contains { $0.action == "principle.reword" })
            #expect(audit.items.filter { $0.action == "constitution.publish" }.count == 2)
        }
    }

    @Test func compilingTheSameVotesTwiceGivesTheSameHash() async throws {
        let h = try await Harness.make()
        try await AnalysisHTTPTests.vote(h)
        let a = try await ConstitutionBuilding.publish(
            conversation: h.conversation, store: h.store, parameters: CompileParameters(), by: .system)
        let b = try await ConstitutionBuilding.publish(
            conversation: h.conversation, store: h.store, parameters: CompileParameters(), by: .system)
        #expect(a.created && !b.created, "the same content again is not a new version")
        #expect(a.stored.id == b.stored.id && b.stored.version == 1)
        #expect(a.stored.sha256 == b.stored.sha256)
        let versions = try await h.store.constitutions(conversationID: h.conversation.id)
        #expect(versions.count == 1)
    }

    @Test func publishingUnchangedContentSaysNothingChangedInTheAPIAndOnThePage() async throws {
        let h = try await Harness.make()
        try await AnalysisHTTPTests.vote(h)
        try await h.test { client in
            let auth = h.organiserHeaders
            let first = try await client.json(.post, "/api/v1/conversations/town/constitutions", "{}", headers: auth)
            #expect(first.status == .created)
            let firstBody = try first.decoded()
            #expect(firstBody["unchanged"] as? Bool == false)
            let again = try await client.json(.post, "/api/v1/conversations/town/constitutions", "{}", headers: auth)
            #expect(again.status == .ok)
            let againBody = try again.decoded()
            #expect(againBody["unchanged"] as? Bool == true)
            #expect(againBody["version"] as? Int == 1 && againBody["id"] as? Int == firstBody["id"] as? Int)
            // Other parameters give other content: that is a new version.
            let other = try await client.json(
                .post, "/api/v1/conversations/town/constitutions", #"{"rule": "polis-gac"}"#, headers: auth)
            #expect(other.status == .created)
            #expect(try other.decoded()["version"] as? Int == 2)

            var browser = Browser(client: client)
            let home = try await AdminSession.signIn(&browser)
            #expect(home.status == .ok)
            let builder = try await browser.get("/admin/conversations/town/constitution?rule=polis-gac")
            let csrf = try #require(builder.csrf)
            let published = try await browser.post(
                "/admin/conversations/town/constitutions", form: [("csrf", csrf), ("rule", "polis-gac")])
            #expect(published.status == .ok)
            #expect(published.contains("Nothing changed since version 2, so no new version was published."))
            let versions = try await h.store.constitutions(conversationID: h.conversation.id)
            #expect(versions.count == 2)
            let audit = try await h.store.auditLog(conversationID: h.conversation.id, offset: 0, limit: 100)
            #expect(audit.items.filter { $0.action == "constitution.publish" }.count == 2)
        }
    }

    /// One labelling of opinion groups: the analysis API, the builder, the published JSON and
    /// the Markdown export give each group's agree share under the same letter.
    @Test func everyViewLabelsTheGroupsAlike() async throws {
        let h = try await Harness.make()
        try await AnalysisHTTPTests.vote(h)
        // Unequal camps, so "largest first" decides the letters.
        for p in 30..<40 {
            for (index, statement) in h.statements.enumerated() {
                let value: VoteValue = index == 0 || index.isMultiple(of: 2) ? .agree : .disagree
                _ = try await h.store.castVote(
                    conversationID: h.conversation.id, participant: .external("p\(p)"), statementID: statement.id,
                    value: value, at: Date())
            }
        }
        let analysed = try #require(await h.analysis.analyze(h.conversation.id))
        #expect(analysed.k == 2)
        try await h.test { client in
            let auth = h.organiserHeaders
            let analysis = try await client.json(.get, "/api/v1/conversations/town/analysis", headers: auth)
            let body = try #require(try analysis.decoded()["analysis"] as? [String: Any])
            let statements = try #require(body["statements"] as? [[String: Any]])
            var pageShares: [Int: [Double]] = [:]
            for statement in statements {
                let id = try #require(statement["id"] as? Int)
                let groups = try #require(statement["group_votes"] as? [[String: Any]])
                pageShares[id] = groups.map {
                    let votes = $0["votes"] as? Int ?? 0
                    return votes == 0 ? 0 : Double($0["agree"] as? Int ?? 0) / Double(votes)
                }
            }
            let published = try await client.json(
                .post, "/api/v1/conversations/town/constitutions", #"{"rule": "polis-gac", "threshold": 0}"#,
                headers: auth)
            let id = try #require(try published.decoded()["id"] as? Int)
            let json = try await client.json(.get, "/api/v1/constitutions/\(id)", headers: auth)
            let principles = try #require(try json.decoded()["principles"] as? [[String: Any]])
            #expect(!principles.isEmpty)
            let markdown = try await client.execute(
                uri: "/api/v1/constitutions/\(id)?format=md", method: .get, headers: auth)
            let text = String(buffer: markdown.body)
            for principle in principles {
                let lead = try #require((principle["sources"] as? [[String: Any]])?.first?["statement"] as? Int)
                let shares = try #require(principle["group_agree_shares"] as? [Double])
                #expect(shares == pageShares[lead], "statement \(lead): the constitution's groups are the page's")
                let labelled = shares.enumerated().map {
                    "\(["A", "B", "C", "D", "E"][$0.offset]) \(Int(($0.element * 100).rounded()))%"
                }.joined(separator: ", ")
                #expect(text.contains("agree share by group: \(labelled)"), "\(labelled)")
            }
            var browser = Browser(client: client)
            _ = try await AdminSession.signIn(&browser)
            let builder = try await browser.get("/admin/conversations/town/constitution?rule=polis-gac&threshold=0")
            #expect(builder.contains("The rule runs over the 2 opinion groups of the analysis page (A 25, B 15)."))
            let first = try #require(principles.first)
            let shares = try #require(first["group_agree_shares"] as? [Double])
            #expect(builder.contains(">A \(Int((shares[0] * 100).rounded()))%</span>"))
            #expect(builder.contains(">B \(Int((shares[1] * 100).rounded()))%</span>"))
        }
    }

    @Test func badRequestsAreRefusedAndChangeNothing() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            let before = try h.snapshot()
            let auth = h.organiserHeaders
            let cases: [(HTTPRequest.Method, String, String?, HTTPFields, Int)] = [
                (.get, "/api/v1/conversations/town/compile", nil, [:], 401),
                (.get, "/api/v1/conversations/town/compile?rule=vibes", nil, auth, 422),
                (.get, "/api/v1/conversations/town/compile?threshold=high", nil, auth, 400),
                (.post, "/api/v1/conversations/town/constitutions", #"{"threshold": 7}"#, auth, 422),
                (.post, "/api/v1/conversations/town/constitutions", "{", auth, 400),
                (.post, "/api/v1/conversations/nope/constitutions", "{}", auth, 404),
                (.get, "/api/v1/constitutions/999", nil, auth, 404),
                (.get, "/api/v1/constitutions/abc", nil, auth, 400),
                (.put, "/api/v1/conversations/town/principles/9999", #"{"text": "x"}"#, auth, 404),
                (.put, "/api/v1/conversations/town/principles/1", #"{"text": "  "}"#, auth, 422),
            ]
            for (method, path, body, headers, status) in cases {
                let response = try await client.json(method, path, body, headers: headers)
                #expect(response.status.code == status, "\(method) \(path)")
                #expect(response.errorCode != nil, "\(method) \(path)")
            }
            #expect(try h.snapshot() == before)
        }
    }
}

@Suite struct ConstitutionBuilderPageTests {
    @Test func anOrganiserPreviewsEditsPublishesAndDiffs() async throws {
        let h = try await Harness.make()
        try await AnalysisHTTPTests.vote(h)
        try await h.test { client in
            var browser = Browser(client: client)
            try await AdminSession.signIn(&browser)
            var page = try await browser.get("/admin/conversations/town/constitution?rule=ccai&threshold=0.72")
            #expect(page.status == .ok)
            #expect(page.contains("Choose the response that is honest."))
            #expect(page.contains("5 statements, 5 eligible, 1 selected, 1 principles after merging"))
            #expect(page.contains("score 0.000 ≤ 0.720"))
            let csrf = try #require(page.csrf)
            let lead = h.statements[0].id
            page = try await browser.post(
                "/admin/conversations/town/principles/\(lead)",
                form: [
                    ("csrf", csrf), ("return", "rule=ccai&threshold=0.72"),
                    ("text", "Choose the response that is <most> truthful."),
                    ("action", "save"),
                ])
            #expect(page.path.contains("done=reworded"))
            #expect(page.contains("Choose the response that is &lt;most&gt; truthful."))
            #expect(page.contains("(edited)"))
            page = try await browser.post(
                "/admin/conversations/town/constitutions",
                form: [("csrf", csrf), ("rule", "ccai"), ("threshold", "0.72")])
            #expect(page.contains("Published version 1."))
            page = try await browser.post(
                "/admin/conversations/town/principles/\(lead)", form: [("csrf", csrf), ("action", "reset")])
            page = try await browser.post("/admin/conversations/town/constitutions", form: [("csrf", csrf)])
            #expect(page.contains("Published version 2."))
            let diffLink = try #require(page.firstMatch(#"<a href="(/admin/constitutions/\d+/diff/\d+)">"#))
            let diff = try await browser.get(diffLink)
            #expect(diff.contains("Reworded (1)"))
            #expect(diff.contains("Choose the response that is honest."))
            let download = try #require(page.firstMatch(#"<a href="(/admin/constitutions/\d+\?format=md)">"#))
            let md = try await browser.get(download)
            #expect(md.headers[.contentType]?.hasPrefix("text/markdown") == true)
            #expect(md.body.hasPrefix("# Town hall"))
            // Forged forms change nothing.
            let before = try h.snapshot()
            let forged = try await browser.post("/admin/conversations/town/constitutions", form: [("csrf", "forged")])
            #expect(forged.status == .forbidden)
            #expect(try h.snapshot() == before)
        }
    }
}

@Suite struct PrincipleGroupingTests {
    @Test func mergeAndSplitThroughTheAPIAndTheBuilder() async throws {
        let h = try await Harness.make()
        // Everyone agrees with everything: five principles, one per statement.
        for p in 0..<20 {
            for statement in h.statements {
                _ = try await h.store.castVote(
                    conversationID: h.conversation.id, participant: .external("p\(p)"), statementID: statement.id,
                    value: p < 10 || statement.id != h.statements[4].id ? .agree : .disagree, at: Date())
            }
        }
        let (a, b, c) = (h.statements[0].id, h.statements[1].id, h.statements[2].id)
        try await h.test { client in
            let auth = h.organiserHeaders
            let merge = try await client.json(
                .put, "/api/v1/conversations/town/principles/\(b)/grouping", #"{"merge_into": \#(a)}"#, headers: auth)
            #expect(merge.status == .noContent)
            for (body, status) in [
                (#"{"merge_into": 9999}"#, 404), (#"{"split": true, "automatic": true}"#, 422), ("{}", 422),
            ] {
                let bad = try await client.json(
                    .put, "/api/v1/conversations/town/principles/\(c)/grouping", body, headers: auth)
                #expect(bad.status.code == status, "\(body)")
            }
            var browser = Browser(client: client)
            try await AdminSession.signIn(&browser)
            var page = try await browser.get("/admin/conversations/town/constitution?merge_similarity=1.01")
            let preview = try await client.json(
                .get, "/api/v1/conversations/town/compile?merge_similarity=1.01", headers: auth)
            let principles = try #require(
                (try preview.decoded()["constitution"] as? [String: Any])?["principles"] as? [[String: Any]])
            let groups = principles.map {
                ($0["sources"] as? [[String: Any]] ?? []).compactMap { $0["statement"] as? Int }
            }
            #expect(groups.contains([Int(a), Int(b)]))
            #expect(page.contains("Back to automatic merging"))

            page = try await browser.post(
                "/admin/conversations/town/principles/\(b)/grouping",
                form: [("csrf", try #require(page.csrf)), ("return", "merge_similarity=1.01"), ("action", "split")])
            #expect(page.contains("Grouping saved"))
            let groupings = try await h.store.principleGroupings(conversationID: h.conversation.id)
            #expect(groupings[b] == .some(nil))
            page = try await browser.post(
                "/admin/conversations/town/principles/\(c)/grouping",
                form: [("csrf", try #require(page.csrf)), ("action", "merge"), ("into", String(a))])
            let after = try await h.store.principleGroupings(conversationID: h.conversation.id)
            #expect(after[c] == .some(a))
            let audit = try await h.store.auditLog(conversationID: h.conversation.id, offset: 0, limit: 50)
            #expect(audit.items.filter { $0.action == "principle.group" }.count == 3)
        }
    }
}
