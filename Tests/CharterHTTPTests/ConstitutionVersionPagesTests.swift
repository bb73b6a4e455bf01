import CharterCompiler
import CharterDomain
import CharterHTTP
import CharterStore
import CharterTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CharterHTTP

@Suite struct ConstitutionVersionPagesTests {
    /// Three versions: ccai (the default), polis-gac 0.6, then min-group 0.5 after five more
    /// votes. Returns their ids.
    static func publishThree(_ h: Harness, client: some TestClientProtocol) async throws -> [Int] {
        var ids: [Int] = []
        for (index, body) in [
            "{}", #"{"rule": "polis-gac", "threshold": 0.6}"#, #"{"rule": "min-group", "threshold": 0.5}"#,
        ]
        .enumerated() {
            if index == 2 {
                for statement in h.statements {
                    _ = try await h.store.castVote(
                        conversationID: h.conversation.id, participant: .external("late"), statementID: statement.id,
                        value: .agree, at: Date())
                }
            }
            let published = try await client.json(
                .post, "/api/v1/conversations/town/constitutions", body, headers: h.organiserHeaders)
            #expect(published.status == .created)
            ids.append(try #require(try published.decoded()["id"] as? Int))
        }
        return ids
    }

    @Test func aPublishedVersionReadsInTheBrowserWithItsProvenance() async throws {
        let h = try await Harness.make()
        try await AnalysisHTTPTests.vote(h)
        try await h.test { client in
            let ids = try await Self.publishThree(h, client: client)
            var browser = Browser(client: client)
            try await AdminSession.signIn(&browser)
            let builder = try await browser.get("/admin/conversations/town/constitution")
            #expect(builder.contains(#"href="/admin/conversations/town/constitution/versions/1""#))
            #expect(builder.contains(#"href="/admin/conversations/town/constitution/diff""#))

            let page = try await browser.get("/admin/conversations/town/constitution/versions/1")
            #expect(page.status == .ok)
            #expect(page.contains("Town hall: constitution version 1"))
            #expect(page.contains("<p class=\"principle\">Choose the response that is honest.</p>"))
            #expect(page.contains("Statement #\(h.statements[0].id): <q>The AI should be honest.</q>"))
            // The score as people read it, the exact value on hover and focus.
            let stored = try #require(try await h.store.constitution(id: Int64(ids[0])))
            let principle = try #require(try Constitution.decode(stored.body).principles.first)
            let score = try #require(principle.score)
            #expect(
                page.contains(
                    #"<span title="\#(score)" tabindex="0">\#(ReadableNumbers.significant(score))</span>"#))
            #expect(ReadableNumbers.significant(score).count <= 5)
            #expect(page.contains("<th>selection</th><td>ccai 0.72</td>"))
            #expect(page.contains("<th>votes</th><td>150</td>"))
            #expect(page.contains("/admin/constitutions/\(ids[0])?format=md"))
            let next = try await browser.get("/admin/conversations/town/constitution/versions/2")
            #expect(next.contains("<th>selection</th><td>polis-gac 0.6</td>"))
            #expect(next.contains("/constitution/diff?from=1&amp;to=2"))
        }
    }

    @Test func anyTwoVersionsCanBeComparedWithTheParametersBehindTheChanges() async throws {
        let h = try await Harness.make()
        try await AnalysisHTTPTests.vote(h)
        try await h.test { client in
            let ids = try await Self.publishThree(h, client: client)
            var browser = Browser(client: client)
            try await AdminSession.signIn(&browser)

            // With no choice, the newest version against the one before it.
            let latest = try await browser.get("/admin/conversations/town/constitution/diff")
            #expect(latest.contains("changes from version 2 to version 3"))

            // Versions 1 and 3 are not adjacent; a GET form picks them, no script needed.
            let diff = try await browser.get("/admin/conversations/town/constitution/diff?from=1&to=3")
            #expect(diff.status == .ok)
            #expect(diff.contains(#"<form method="get" action="/admin/conversations/town/constitution/diff""#))
            #expect(diff.contains(#"<select id="from" name="from">"#) && diff.contains(#"<select id="to" name="to">"#))
            #expect(diff.body.components(separatedBy: "<option value=").count - 1 == 6)
            #expect(diff.contains(#"<option value="1" selected>version 1"#))
            #expect(diff.contains(#"<option value="3" selected>version 3"#))
            #expect(
                diff.contains(
                    #"<span class="name">selection</span> <code>ccai 0.72</code> → <code>min-group 0.5</code>"#))
            #expect(diff.contains(#"<span class="name">votes</span> 150 → 155"#))
            #expect(diff.contains(#"<span class="name">participants</span> 30 → 31"#))
            // Scores are rounded, the exact value in the title.
            for match in diff.body.matches(of: /<span title="([-0-9.e]+)" tabindex="0">([^<]+)<\/span>/) {
                let exact = try #require(Double(match.1))
                #expect(match.2.count <= 5 && Double(match.2) != nil, "\(match.0)")
                #expect(abs((Double(match.2) ?? 0) - exact) <= max(abs(exact) * 0.01, 0.001))
            }

            // The same version twice says so.
            let same = try await browser.get("/admin/conversations/town/constitution/diff?from=2&to=2")
            #expect(same.contains("These are the same version"))

            // The old id-based address leads to the same page.
            let old = try await browser.get("/admin/constitutions/\(ids[0])/diff/\(ids[2])")
            #expect(old.path == "/admin/conversations/town/constitution/diff?from=1&to=3")
        }
    }

    @Test(arguments: [
        (
            "/admin/conversations/town/constitution/diff?from=abc&to=2", HTTPResponse.Status.badRequest,
            "&#39;from&#39; must be a version number"
        ),
        ("/admin/conversations/town/constitution/diff?from=1&to=9", .notFound, "There is no version 9"),
        (
            "/admin/conversations/town/constitution/diff?from=0&to=1", .badRequest,
            "&#39;from&#39; must be a version number"
        ),
        (
            "/admin/conversations/town/constitution/diff?from=1&to=-2", .badRequest,
            "&#39;to&#39; must be a version number"
        ),
        ("/admin/conversations/town/constitution/versions/7", .notFound, "its versions are 1 to 3"),
        (
            "/admin/conversations/town/constitution/versions/x", .badRequest,
            "&#39;version&#39; must be a version number"
        ),
        ("/admin/conversations/nowhere/constitution/versions/1", .notFound, "not found"),
    ])
    func badVersionNumbersGetAClearPage(path: String, status: HTTPResponse.Status, message: String) async throws {
        let h = try await Harness.make()
        try await AnalysisHTTPTests.vote(h)
        try await h.test { client in
            _ = try await Self.publishThree(h, client: client)
            var browser = Browser(client: client)
            try await AdminSession.signIn(&browser)
            let page = try await browser.get(path)
            #expect(page.status == status)
            #expect(page.contains(message), "\(page.body)")
            #expect(page.headers[.contentType]?.hasPrefix("text/html") == true)
        }
    }

    @Test func parameterChangesNameEachChangedParameter() {
        let old = ConstitutionVersionPages.parameterFacts(CompileParameters(rule: .polisGAC, threshold: 0.6))
        let new = ConstitutionVersionPages.parameterFacts(
            CompileParameters(
                rule: .ccai, filters: ParticipantFilters(minimumVotes: 3, straightLiningVotes: 10)))
        let changes = ConstitutionVersionPages.changes(old, new).map { "\($0.name) \($0.before) → \($0.after)" }
        #expect(
            changes == [
                "selection polis-gac 0.6 → ccai 0.72", "participants' minimum votes 0 → 3",
                "straight-liners left out no → over 10 votes",
            ])
        #expect(ConstitutionVersionPages.changes(old, old).isEmpty)
    }
}
