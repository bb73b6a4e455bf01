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

/// The participants' results page, `GET /c/{slug}/results` (issue 15).
@Suite struct ResultsPageTests {
    /// Two clearly opposed camps of ten over the harness' five statements: everyone agrees with
    /// the first ("The AI should be honest."); camp a agrees with the second and third and
    /// disagrees with the fourth and fifth, camp b the other way round.
    static func camps(_ h: Harness) async throws {
        for camp in ["a", "b"] {
            for p in 0..<10 {
                for (index, statement) in h.statements.enumerated() {
                    _ = try await h.store.castVote(
                        conversationID: h.conversation.id, participant: .external("\(camp)\(p)"),
                        statementID: statement.id, value: Self.vote(camp: camp, index: index), at: Date())
                }
            }
        }
    }

    static func vote(camp: String, index: Int) -> VoteValue {
        if index == 0 { return .agree }
        return (index <= 2) == (camp == "a") ? .agree : .disagree
    }

    /// Votes through every statement on the page, as camp a would; returns the last page.
    static func voteThrough(_ browser: inout Browser, _ h: Harness, xid: String) async throws -> Browser.Page {
        var page = try await browser.get("/c/town?xid=\(xid)")
        for _ in 0..<h.statements.count {
            guard let shown = Self.shownStatement(page), let id = Int64(shown) else { break }
            let index = try #require(h.statements.firstIndex { $0.id == id })
            page = try await browser.post(
                "/c/town/vote",
                form: [
                    ("csrf", page.csrf ?? ""), ("statement", shown), ("vote", Self.vote(camp: "a", index: index).name),
                    ("xid", xid),
                ])
            #expect(page.status == .ok)
        }
        return page
    }

    /// The statement the vote form asks about (not the one the "change it to" form names).
    static func shownStatement(_ page: Browser.Page) -> String? {
        page.firstMatch(#"class="vote">[\s\S]*?name="statement" value="(\d+)""#)
    }

    @Test func aParticipantWhoFinishedSeesTheirGroupTheConsensusTheMapAndTheConstitution() async throws {
        let h = try await Harness.make()
        try await Self.camps(h)
        try await h.test { client in
            var browser = Browser(client: client)
            let done = try await Self.voteThrough(&browser, h, xid: "me")
            #expect(done.contains("You have voted on every statement"))
            #expect(done.contains(#"<a href="/c/town/results?xid=me" class="results-link">"#))

            // Before any analysis the page says so plainly.
            var page = try await browser.get("/c/town/results?xid=me")
            #expect(page.status == .ok)
            #expect(page.contains("There are no results yet"))

            let result = try #require(await h.analysis.analyze(h.conversation.id))
            #expect(result.k == 2)
            let me = try #require(
                try await h.store.existingParticipant(conversationID: h.conversation.id, identity: .external("me")))
            let myGroup = try #require(result.participants.first { $0.id == me.id }?.group)
            let letter = ConstitutionCompiler.groupLetter(myGroup)
            let other = ConstitutionCompiler.groupLetter(1 - myGroup)

            page = try await browser.get("/c/town/results?xid=me")
            #expect(page.status == .ok)
            #expect(page.contains("Your votes put you in group \(letter)."))
            #expect(!page.contains("not counted in these results yet"))
            let size = try #require(result.groups.first { $0.id == myGroup }?.size)
            #expect(page.contains("Group \(letter): \(size) participants <strong>(your group)</strong>"))
            // Each group in plain words, from its most distinctive statements.
            #expect(page.contains("Group \(letter) agreed much more than others with:"))
            #expect(page.contains("Group \(other) disagreed more than others with:"))
            #expect(page.contains("(100% of group \(letter) agreed)"))
            #expect(page.contains("(100% of group \(other) disagreed)"))
            // What every group agreed on.
            let consensus = try #require(page.body.range(of: #"<ul class="consensus">"#))
            #expect(
                page.body[consensus.upperBound...].hasPrefix(
                    "\n<li><q>The AI should be honest.</q><br><span class=\"share\">Agreed: group A 100% · group B 100%</span>"
                ))
            // The map: an image with a text alternative, fitted to the width, the reader marked,
            // each group lettered; and the same groups as a table.
            let svg = try #require(page.firstMatch(#"(<svg[^>]*>)"#))
            #expect(
                svg.contains(#"role="img""#) && svg.contains(#"aria-labelledby="results-map-title results-map-desc""#))
            #expect(svg.contains(#"viewBox="0 0 400 280" width="100%""#))
            #expect(page.contains(#"<title id="results-map-title">Opinion map</title>"#))
            #expect(page.contains("Your own position is circled and labelled “You”."))
            #expect(page.contains(#"paint-order="stroke">You</text>"#))
            #expect(page.contains(##"font-weight="bold" fill="#1b1f24">A</text>"##))
            #expect(page.contains(##"font-weight="bold" fill="#1b1f24">B</text>"##))
            #expect(page.body.components(separatedBy: "<circle cx=").count - 1 >= 21)
            #expect(page.contains(#"<th scope="row">\#(letter) <strong>(You)</strong></th><td>\#(size)</td>"#))
            #expect(page.body.utf8.count < 30_000)
            #expect(!page.contains("The constitution</h2>"), "nothing published yet")

            // Once published, the constitution with each principle's provenance.
            let published = try await client.json(
                .post, "/api/v1/conversations/town/constitutions", "{}", headers: h.organiserHeaders)
            #expect(published.status == .created)
            page = try await browser.get("/c/town/results?xid=me")
            #expect(page.contains("The constitution</h2>"))
            #expect(page.contains("Version 1 of the constitution"))
            #expect(page.contains(#"<p class="principle">Choose the response that is honest.</p>"#))
            #expect(page.contains("<li><q>The AI should be honest.</q></li>"))
            #expect(page.contains("Agreed when compiled: group A 100% · group B 100%"))
            #expect(page.contains(#"href="/c/town/results/constitution?xid=me&amp;format=md""#))
            let file = try await browser.get("/c/town/results/constitution?xid=me&format=md")
            #expect(file.status == .ok)
            #expect(file.contains("Choose the response that is honest."))
            #expect(file.headers[.contentDisposition]?.contains("town-v1-constitution.md") == true)
            let txt = try await browser.get("/c/town/results/constitution?xid=me&format=pdf")
            #expect(txt.status == .badRequest)

            // In the reader's language.
            page = try await browser.get("/c/town/results?xid=me&lang=de")
            #expect(page.contains(#"<html lang="de""#))
            #expect(page.contains(#"<input type="hidden" name="xid" value="me">"#), "the switch keeps the xid")
        }
    }

    @Test func theResultsAreClosedToWhoeverHasNotFinishedUnlessPublic() async throws {
        let h = try await Harness.make()
        try await Self.camps(h)
        _ = try #require(await h.analysis.analyze(h.conversation.id))
        try await h.test { client in
            let participants = try await h.store.counts().participants
            // A stranger: refused, told when the results open, led back, and not made a participant.
            var stranger = Browser(client: client)
            var page = try await stranger.get("/c/town/results")
            #expect(page.status == .forbidden)
            #expect(page.contains("The results are not open yet"))
            #expect(page.contains("once you have voted on every statement"))
            #expect(page.contains(#"<a href="/c/town" class="results-back">Back to the conversation</a>"#))
            page = try await stranger.get("/c/town/results?xid=someone")
            #expect(page.status == .forbidden)
            #expect(page.contains(#"<a href="/c/town?xid=someone" class="results-back">"#))
            #expect(try await h.store.counts().participants == participants)
            let download = try await stranger.get("/c/town/results/constitution")
            #expect(download.status == .forbidden)

            // A participant half-way through: refused, and the conversation page has no link yet.
            var halfway = Browser(client: client)
            page = try await halfway.get("/c/town")
            page = try await halfway.post(
                "/c/town/vote",
                form: [
                    ("csrf", page.csrf ?? ""), ("statement", try #require(page.input("statement"))), ("vote", "agree"),
                ])
            #expect(!page.contains("/c/town/results"))
            page = try await halfway.get("/c/town/results")
            #expect(page.status == .forbidden)

            // Finished (by cookie, no xid): allowed, in no group until the analysis counts them.
            var finished = Browser(client: client)
            page = try await finished.get("/c/town")
            for _ in h.statements {
                guard let shown = Self.shownStatement(page) else { break }
                page = try await finished.post(
                    "/c/town/vote", form: [("csrf", page.csrf ?? ""), ("statement", shown), ("vote", "pass")])
            }
            #expect(page.contains(#"<a href="/c/town/results" class="results-link">"#))
            page = try await finished.get("/c/town/results")
            #expect(page.status == .ok)
            #expect(page.contains("Your latest votes are not counted in these results yet"))
            #expect(!page.contains("Your votes put you in group"))
            #expect(!page.contains(">You</text>"))
        }
    }

    @Test func publicResultsAreOpenToEveryoneWithoutAYouMark() async throws {
        let h = try await Harness.make(conversation: { $0.resultsPublic = true })
        try await Self.camps(h)
        _ = try #require(await h.analysis.analyze(h.conversation.id))
        try await h.test { client in
            var stranger = Browser(client: client)
            let page = try await stranger.get("/c/town/results")
            #expect(page.status == .ok)
            #expect(page.contains("Group A: 10 participants") && page.contains("Group B: 10 participants"))
            #expect(!page.contains("Your votes put you"))
            #expect(!page.contains(">You</text>"))
            #expect(try await h.store.counts().participants == 20)
            // The conversation page links to the results from its "voted on every statement" and
            // closed sections only, not beside a statement still to vote on.
            let conversation = try await stranger.get("/c/town")
            #expect(!conversation.contains("/c/town/results"), "the link sits in the done and closed sections")
        }
    }

    /// A closed conversation opens its results to anyone who voted at all; under a binding
    /// policy an xid reads as its participant only in the browser that holds it, and looking
    /// binds nothing.
    @Test func aClosedConversationOpensToItsVotersAndLookingBindsNoXID() async throws {
        let h = try await Harness.make(conversation: { $0.xidPolicy = .bound })
        try await Self.camps(h)
        try await h.test { client in
            var voter = Browser(client: client)
            var page = try await voter.get("/c/town?xid=early")
            page = try await voter.post(
                "/c/town/vote",
                form: [
                    ("csrf", page.csrf ?? ""), ("statement", try #require(page.input("statement"))), ("vote", "agree"),
                    ("xid", "early"),
                ])
            page = try await voter.get("/c/town/results?xid=early")
            #expect(page.status == .forbidden)
            var settings = h.conversation.settings
            settings.state = .closed
            _ = try await h.store.updateConversation(id: h.conversation.id, settings, by: .system)
            page = try await voter.get("/c/town?xid=early")
            #expect(
                page.contains(
                    #"<a href="/c/town/results?xid=early" class="results-link">See what came of the votes</a>"#))
            page = try await voter.get("/c/town/results?xid=early")
            #expect(page.status == .ok)
            #expect(page.contains("There are no results yet"))

            // Another browser with the same xid is a stranger; a new xid is not bound by looking.
            var other = Browser(client: client)
            page = try await other.get("/c/town/results?xid=early")
            #expect(page.status == .forbidden)
            page = try await other.get("/c/town/results?xid=newcomer")
            #expect(page.status == .forbidden)
            #expect(try await h.store.xidBinder(conversationID: h.conversation.id, xid: "newcomer") == nil)
            #expect(
                try await h.store.existingParticipant(
                    conversationID: h.conversation.id, identity: .external("newcomer"))
                    == nil)
        }
    }

    @Test func statementTextsAreEscapedAndBadInputIsNoFault() async throws {
        let h = try await Harness.make(conversation: { $0.resultsPublic = true })
        let hostile = try #require(
            try await h.store.addSeedStatements(
                conversationID: h.conversation.id, texts: [#"<script>alert("x")</script> & co"#], by: .system
            ).added.first)
        try await Self.camps(h)
        for camp in ["a", "b"] {
            for p in 0..<10 {
                _ = try await h.store.castVote(
                    conversationID: h.conversation.id, participant: .external("\(camp)\(p)"), statementID: hostile.id,
                    value: .agree, at: Date())
            }
        }
        _ = try #require(await h.analysis.analyze(h.conversation.id))
        try await h.test { client in
            var browser = Browser(client: client)
            let page = try await browser.get("/c/town/results")
            #expect(page.status == .ok)
            #expect(!page.contains("<script>"))
            #expect(page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co"))
            for path in [
                "/c/town/results?xid=", "/c/town/results?xid=%00%01", "/c/town/results?lang=%3Cb%3E",
                "/c/town/results?xid=\(String(repeating: "x", count: 5000))", "/c/nowhere/results",
                "/c/town/results/constitution?format=%3C",
            ] {
                let answer = try await browser.get(path)
                #expect(answer.status.code < 500, "\(path)")
            }
        }
    }
}
