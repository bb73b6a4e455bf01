import CharterDomain
import CharterStore
import CharterTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CharterHTTP

/// The organiser's desk: the conversation's overview, the flagged participants' pages, the
/// moderation queue (counts, near-duplicates, rewording) and the small things around them.
@Suite struct OrganiserDeskTests {
    /// 10:00 UTC on 3 March 2026.
    static let hour = Date(timeIntervalSince1970: 1_772_532_000)

    static func occurrences(of needle: String, in text: some StringProtocol) -> Int {
        text.components(separatedBy: needle).count - 1
    }

    /// The text between `start` and the next `end` after it.
    static func section(_ body: String, from start: String, to end: String) -> Substring {
        guard let from = body.range(of: start) else { return "" }
        let rest = body[from.upperBound...]
        return rest[..<(rest.range(of: end)?.lowerBound ?? rest.endIndex)]
    }

    @Test func theOverviewShowsTheConversationAtAGlance() async throws {
        let h = try await Harness.make()
        let id = h.conversation.id
        let s = h.statements
        let at = { (seconds: Double) in Self.hour.addingTimeInterval(seconds) }
        // Hour 1: p1 votes twice and changes the second vote; hour 2: p2; hour 3: nothing;
        // hour 4: p3 votes and p4 writes a statement (its agree vote comes with it).
        _ = try await h.store.castVote(
            conversationID: id, participant: .anonymous("p1"), statementID: s[0].id, value: .agree, at: at(60))
        _ = try await h.store.castVote(
            conversationID: id, participant: .anonymous("p1"), statementID: s[1].id, value: .disagree, at: at(120))
        _ = try await h.store.castVote(
            conversationID: id, participant: .anonymous("p1"), statementID: s[1].id, value: .agree, at: at(200))
        _ = try await h.store.castVote(
            conversationID: id, participant: .anonymous("p2"), statementID: s[0].id, value: .agree, at: at(3610))
        _ = try await h.store.castVote(
            conversationID: id, participant: .anonymous("p3"), statementID: s[2].id, value: .pass, at: at(3 * 3600 + 5))
        _ = try await h.store.submitStatement(
            conversationID: id, participant: .anonymous("p4"), text: "The AI should show its sources.",
            at: at(3 * 3600 + 100))
        _ = try await h.store.moderate(
            statementIDs: [s[4].id], conversationID: id, action: .reject(reason: "off topic"), by: .system)
        _ = try await h.store.moderate(
            statementIDs: [s[3].id], conversationID: id, action: .markMeta(true), by: .system)
        for (minute, groups) in [2, 3, 3].enumerated() {
            try await h.store.saveAnalysis(
                StoredAnalysis(
                    conversationID: id, computedAt: at(4 * 3600 + Double(minute) * 60), voteCount: 5,
                    lastVoteEvent: 0, durationMs: 1, parameters: "{}", result: Data("{}".utf8), groupCount: groups))
        }
        try await h.test { client in
            var browser = Browser(client: client)
            try await AdminSession.signIn(&browser)
            let page = try await browser.get("/admin/conversations/town")
            #expect(page.status == .ok)
            #expect(page.contains(#"<dd id="overview-participants">4</dd>"#))
            #expect(page.contains(#"<dd id="overview-votes">5 <small>(6 cast, changes included)</small></dd>"#))
            #expect(page.contains(#"<dd id="overview-statements">4 accepted, 1 pending, 1 rejected; 1 meta</dd>"#))
            #expect(
                page.contains(
                    "3 opinion groups, unchanged in the last 2 analyses (since 3 Mar 14:01 UTC); before: 2."))
            #expect(page.contains("2 groups in 1 analysis, 3 Mar 14:00 UTC to 3 Mar 14:00 UTC"))
            #expect(
                page.contains(
                    #"<a href="/admin/conversations/town/moderation?moderation=pending">1 pending statement in the moderation queue</a>"#
                ))
            #expect(page.contains("No flagged participants."))
            // Every task is one link away.
            for link in [
                "/admin/conversations/town/moderation", "/admin/conversations/town/analysis",
                "/admin/conversations/town/constitution", "/admin/runs", "#settings", "/admin/audit?conversation=town",
            ] {
                #expect(page.contains(#"href="\#(link)""#), "\(link)")
            }
            // Four hours, one bar and one point each, with numbered ticks 0–3 and titles.
            let votes = Self.section(page.body, from: #"aria-labelledby="votes-chart-title"#, to: "</svg>")
            #expect(Self.occurrences(of: #"<rect class="bar""#, in: votes) == 4)
            #expect(votes.contains(#"<title id="votes-chart-title">Votes per hour</title>"#))
            #expect(votes.contains("6 votes from 3 Mar 10:00 UTC to 3 Mar 13:00 UTC"))
            #expect(votes.contains("<title>3 Mar 12:00 UTC: 0 votes</title>"))
            #expect(votes.contains("<title>3 Mar 10:00 UTC: 3 votes</title>"))
            for tick in 0...3 { #expect(votes.contains(">\(tick)</text>"), "tick \(tick)") }
            #expect(votes.contains(">10:00</text>") && votes.contains(">13:00</text>"))
            let people = Self.section(page.body, from: #"aria-labelledby="participants-chart-title"#, to: "</svg>")
            #expect(Self.occurrences(of: "<circle ", in: people) == 4)
            #expect(people.contains("<title>3 Mar 13:00 UTC: 4 participants</title>"))
            #expect(page.contains(#"<tr><th scope="row">3 Mar 10:00 UTC</th><td>3</td><td>1</td></tr>"#))
            #expect(page.contains(#"<tr><th scope="row">3 Mar 12:00 UTC</th><td>0</td><td>2</td></tr>"#))
        }
    }

    @Test func aLongConversationIsChartedByDayAndAnEmptyOneSaysSo() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            try await AdminSession.signIn(&browser)
            let empty = try await browser.get("/admin/conversations/town")
            #expect(empty.contains("No votes yet: the charts of votes and participants over time appear"))
            #expect(empty.contains("No analysis has counted the opinion groups yet"))
            #expect(!empty.contains("<svg"))
        }
        // Five days, the middle one without votes.
        for (day, voter) in [(0, "a"), (1, "b"), (3, "c"), (4, "d")] {
            _ = try await h.store.castVote(
                conversationID: h.conversation.id, participant: .anonymous(voter), statementID: h.statements[0].id,
                value: .agree, at: Self.hour.addingTimeInterval(Double(day) * 86_400))
        }
        try await h.test { client in
            var browser = Browser(client: client)
            try await AdminSession.signIn(&browser)
            let page = try await browser.get("/admin/conversations/town")
            let votes = Self.section(page.body, from: #"aria-labelledby="votes-chart-title"#, to: "</svg>")
            #expect(Self.occurrences(of: #"<rect class="bar""#, in: votes) == 5)
            #expect(votes.contains("Votes per day") && votes.contains("<title>5 Mar: 0 votes</title>"))
            #expect(votes.contains(">3 Mar</text>") && votes.contains(">7 Mar</text>"))
            #expect(page.contains(#"<tr><th scope="row">7 Mar</th><td>1</td><td>4</td></tr>"#))
        }
    }

    @Test func flaggedParticipantsArePagedAndSummarised() async throws {
        let h = try await Harness.make()
        let more = try await h.store.addSeedStatements(
            conversationID: h.conversation.id, texts: (1...7).map { "Extra statement \($0)" }, by: .system
        ).added
        let statements = h.statements + more
        // Thirty participants, each casting twelve votes in one instant: too fast to have read them.
        for voter in 1...30 {
            let at = Self.hour.addingTimeInterval(Double(voter) * 3600)
            for (index, statement) in statements.enumerated() {
                _ = try await h.store.castVote(
                    conversationID: h.conversation.id, participant: .anonymous("fast-\(voter)"),
                    statementID: statement.id, value: index % 2 == 0 ? .agree : .disagree, at: at)
            }
        }
        try await h.test { client in
            var browser = Browser(client: client)
            try await AdminSession.signIn(&browser)
            let first = try await browser.get("/admin/conversations/town")
            #expect(first.contains(##"<a href="#flagged">30 flagged participants to look at</a>"##))
            let summary = try #require(first.firstMatch(#"<p id="flagged-summary">([^<]+)</p>"#))
            #expect(summary.hasPrefix("30 participants flagged: 30 voted faster than a person reads"))
            let table = Self.section(first.body, from: #"<section id="flagged""#, to: "</section>")
            #expect(Self.occurrences(of: "<tr><td>", in: table) == 25)
            #expect(table.contains("Showing page 1 of 2: 1–25."))
            let next = try #require(first.firstMatch(#"<a href="([^"]+)">Next →</a></nav>"#))
            #expect(next == "/admin/conversations/town?flagged_page=2#flagged")
            let second = try await browser.get("/admin/conversations/town?flagged_page=2")
            let rest = Self.section(second.body, from: #"<section id="flagged""#, to: "</section>")
            #expect(Self.occurrences(of: "<tr><td>", in: rest) == 5)
            #expect(rest.contains("Showing page 2 of 2: 26–30.") && rest.contains("flagged_page=1#flagged"))
            // Rows do not repeat across pages.
            let ids = { (text: Substring) in
                Set(text.components(separatedBy: "<tr><td>").dropFirst().map { $0.prefix { $0 != "<" } })
            }
            #expect(ids(table).isDisjoint(with: ids(rest)))
            // A page past the end shows the last one.
            let beyond = try await browser.get("/admin/conversations/town?flagged_page=9")
            #expect(beyond.contains("Showing page 2 of 2"))
        }
    }

    @Test func theQueueShowsAuthorsCountsSharesAndNearDuplicatesTogether() async throws {
        let h = try await Harness.make()
        let id = h.conversation.id
        let truth = try await h.store.submitStatement(
            conversationID: id, participant: .anonymous("author-1"), text: "The AI should always tell the truth",
            at: Date())
        let cats = try await h.store.submitStatement(
            conversationID: id, participant: .anonymous("author-2"), text: "Cats make better pets than dogs",
            at: Date())
        let truthAgain = try await h.store.submitStatement(
            conversationID: id, participant: .anonymous("author-3"),
            text: "The AI should always tell the truth to people", at: Date())
        for (voter, value) in [("v1", VoteValue.agree), ("v2", .agree), ("v3", .disagree)] {
            _ = try await h.store.castVote(
                conversationID: id, participant: .anonymous(voter), statementID: truth.id, value: value, at: Date())
        }
        try await h.test { client in
            var browser = Browser(client: client)
            try await AdminSession.signIn(&browser)
            let queue = try await browser.get("/admin/conversations/town/moderation")
            #expect(queue.contains("3 statements."))
            #expect(queue.contains("Near-duplicates: #\(truth.id), #\(truthAgain.id)"))
            #expect(!queue.contains("#\(cats.id), ") && !queue.contains(", #\(cats.id)"))
            #expect(queue.contains("1 group on this page"))
            let card = Self.section(queue.body, from: #"id="statement-\#(truth.id)""#, to: "</li>")
            let author = try #require(
                try await h.store.existingParticipant(conversationID: id, identity: .anonymous("author-1")))
            #expect(card.contains("#\(truth.id)</strong>") && card.contains("by participant \(author.id)"))
            #expect(card.contains(#"<span class="agree-count">3 agree</span>"#))
            #expect(card.contains(#"<span class="disagree-count">1 disagree</span>"#))
            #expect(card.contains(#"<span class="pass-count">0 pass</span>"#))
            #expect(card.contains("75% agree (3 of 4 votes)"))
            // Others voted on it: its wording stays, a reworded copy is offered.
            #expect(card.contains(#"name="mode" value="copy""#) && card.contains("Accept as a reworded copy"))
            let catCard = Self.section(queue.body, from: #"id="statement-\#(cats.id)""#, to: "</li>")
            #expect(catCard.contains("100% agree (1 of 1 vote)") && catCard.contains(#"value="reword""#))
            // The near-duplicates are listed one after the other, the unrelated one after them.
            let order = [truth.id, truthAgain.id, cats.id].map {
                queue.body.range(of: #"id="statement-\#($0)""#)?.lowerBound
            }
            #expect(order[0]! < order[1]! && order[1]! < order[2]!)
            let seeds = try await browser.get("/admin/conversations/town/moderation?moderation=accepted")
            #expect(seeds.contains("by an organiser (seed)") && seeds.contains("no votes yet"))
            let nothing = try await browser.get("/admin/conversations/town/moderation?moderation=rejected")
            #expect(nothing.contains(#"<li class="card">none</li>"#))
        }
    }

    /// The queue lists what is pending; a pending statement that repeats an accepted one (off
    /// this page) names it on its card.
    @Test func aPendingStatementNamesItsLookalikesOffThePage() async throws {
        let h = try await Harness.make()
        let id = h.conversation.id
        let copy = try await h.store.submitStatement(
            conversationID: id, participant: .anonymous("author-1"), text: "The AI should respect privacy!",
            at: Date())
        let other = try await h.store.submitStatement(
            conversationID: id, participant: .anonymous("author-2"), text: "Cats make better pets than dogs",
            at: Date())
        let seed = try #require(h.statements.first { $0.text == "The AI should respect privacy." })
        try await h.test { client in
            var browser = Browser(client: client)
            try await AdminSession.signIn(&browser)
            let queue = try await browser.get("/admin/conversations/town/moderation")
            let card = Self.section(queue.body, from: #"id="statement-\#(copy.id)""#, to: "</li>")
            #expect(card.contains("Reads like, off this page:"))
            #expect(
                card.contains(
                    #"<a href="/admin/conversations/town/statements/\#(seed.id)">#\#(seed.id)</a> (accepted)"#))
            let otherCard = Self.section(queue.body, from: #"id="statement-\#(other.id)""#, to: "</li>")
            #expect(!otherCard.contains("Reads like"))
        }
    }

    @Test func aModeratorRewordsBeforeAcceptingOrAcceptsARewordedCopy() async throws {
        let h = try await Harness.make(conversation: { $0.strictModeration = true })
        let id = h.conversation.id
        let typo = try await h.store.submitStatement(
            conversationID: id, participant: .anonymous("writer"), text: "Teh AI shoud be onest", at: Date())
        _ = try await h.store.castVote(
            conversationID: id, participant: .anonymous("voter"), statementID: h.statements[0].id, value: .agree,
            at: Date())
        try await h.test { client in
            var browser = Browser(client: client)
            try await AdminSession.signIn(&browser)
            let queue = try await browser.get("/admin/conversations/town/moderation")
            let csrf = try #require(queue.csrf)
            #expect(
                queue.contains(
                    #"<form method="post" action="/admin/conversations/town/moderation/reword" id="reword-\#(typo.id)">"#
                ))
            #expect(queue.contains(#"form="reword-\#(typo.id)" name="mode" value="reword""#))
            let reworded = try await browser.post(
                "/admin/conversations/town/moderation/reword",
                form: [
                    ("csrf", csrf), ("statement", String(typo.id)), ("text", "The AI should be honest and open."),
                    ("mode", "reword"), ("return", "moderation=pending&offset=0"),
                ])
            #expect(reworded.path.hasPrefix("/admin/conversations/town/moderation?done=reworded-\(typo.id)"))
            #expect(reworded.contains("Statement #\(typo.id) reworded and accepted"))
            let stored = try #require(try await h.store.statement(id: typo.id))
            #expect(
                stored.text == "The AI should be honest and open." && stored.originalText == "Teh AI shoud be onest")
            #expect(stored.moderation == .accepted)
            let all = try await browser.get("/admin/conversations/town/moderation?moderation=all")
            #expect(all.contains("First written as: “Teh AI shoud be onest”"))
            let audit = try await browser.get("/admin/audit?conversation=town")
            #expect(audit.contains("statement.reword") && audit.contains("statement.accept"))
            #expect(audit.contains("reworded from “Teh AI shoud be onest” to “The AI should be honest and open.”"))

            // A statement others voted on keeps its words…
            let seed = h.statements[0]
            let refused = try await browser.post(
                "/admin/conversations/town/moderation/reword",
                form: [
                    ("csrf", csrf), ("statement", String(seed.id)), ("text", "The AI should be truthful."),
                    ("mode", "reword"), ("return", "moderation=all&offset=0"),
                ])
            #expect(refused.status == .conflict)
            #expect(refused.contains("already has votes, so its wording stays as it is"))
            #expect(try await h.store.statement(id: seed.id)?.text == seed.text)
            // …and the moderator's wording becomes a new statement linked to it.
            let copied = try await browser.post(
                "/admin/conversations/town/moderation/reword",
                form: [
                    ("csrf", csrf), ("statement", String(seed.id)), ("text", "The AI should be truthful."),
                    ("mode", "copy"), ("return", "moderation=all&offset=0"),
                ])
            let copy = try #require(
                try await h.store.statements(conversationID: id, filter: StatementFilter(search: "truthful")).items
                    .first)
            #expect(copy.rewordedFrom == seed.id && copy.moderation == .accepted && copy.id != seed.id)
            #expect(copied.contains("Statement #\(copy.id) added and accepted as a reworded copy of #\(seed.id)"))
            #expect(copied.contains("by an organiser (reworded copy of #\(seed.id))"))
            #expect(try await h.store.statement(id: seed.id)?.text == seed.text)
            let log = try await browser.get("/admin/audit?conversation=town")
            #expect(log.contains("statement.reworded-copy") && log.contains("reworded copy of #\(seed.id)"))
            // Without a CSRF token nothing changes.
            let forged = try await browser.post(
                "/admin/conversations/town/moderation/reword",
                form: [("statement", String(typo.id)), ("text", "Forged"), ("mode", "reword")])
            #expect(forged.status == .forbidden)
            #expect(try await h.store.statement(id: typo.id)?.text == "The AI should be honest and open.")
        }
    }

    @Test func theNewConversationFormTakesSeedsAndKeepsTheRejectedLines() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            try await AdminSession.signIn(&browser)
            let form = try await browser.get("/admin/conversations/new")
            // Valid in the browsers' `v` regular-expression mode (an unescaped "-" at the end of a
            // class is not), and what the server checks: a letter or digit, then those or hyphens.
            #expect(form.contains(#"pattern="[a-z0-9][a-z0-9\-]*""#))
            #expect(form.contains(#"<textarea id="new-seeds" name="statements""#))
            let csrf = try #require(form.csrf)
            let long = String(repeating: "x", count: 141)
            let fields = { (slug: String, seeds: String) in
                [
                    ("csrf", csrf), ("slug", slug), ("title", "Seeded"), ("question", "Which?"),
                    ("statements", seeds), ("state", "open"), ("max_statement_length", "140"),
                ]
            }
            // A bad slug creates nothing and keeps every line.
            let invalid = try await browser.post(
                "/admin/conversations", form: fields("Bad Slug!", "One idea\nTwo ideas"))
            #expect(invalid.status == .unprocessableContent)
            #expect(invalid.contains(#"name="statements" rows="6" aria-describedby="new-seeds-help">One idea"#))
            let created = try await browser.post(
                "/admin/conversations",
                form: fields("seeded", "First idea\nfirst   IDEA\n\(long)\nSecond <idea>\n"))
            #expect(created.status == .ok)
            #expect(created.contains("Conversation created; 2 statements added, 2 statements not"))
            let box = Self.section(
                created.body, from: #"<textarea id="seed-text" name="statements" rows="6" required>"#, to: "</textarea>"
            )
            #expect(box == "first   IDEA\n\(long)")
            #expect(created.contains("That statement has already been made."))
            #expect(created.contains("the limit is 140 characters"))
            let conversation = try #require(try await h.store.conversation(slug: "seeded"))
            let seeds = try await h.store.statements(conversationID: conversation.id, filter: .init(isSeed: true))
            #expect(seeds.items.map(\.text) == ["First idea", "Second <idea>"])
            let clean = try await browser.post("/admin/conversations", form: fields("clean", "Alpha\nBeta"))
            #expect(clean.path == "/admin/conversations/clean?done=created-seeded")
            #expect(clean.contains("Conversation created with its seed statements."))
        }
    }

    @Test func aSignedInOrganiserOpeningTheAPIIsToldItWantsAToken() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            try await AdminSession.signIn(&browser)
            // The test browser sends the admin cookie everywhere; a real one sends it to /admin only.
            let api = try await browser.get("/api/v1/conversations/town/statements")
            #expect(api.status == .unauthorized)
            #expect(api.headers[.contentType]?.hasPrefix("application/json") == true)
            #expect(api.contains("The API wants an organiser's token: send Authorization: Bearer co_"))
            #expect(api.contains("/admin/tokens") && !api.contains("Sign in"))
            let page = try await browser.get("/admin/tokens")
            let made = try await browser.post(
                "/admin/tokens", form: [("csrf", try #require(page.csrf)), ("label", "my script")])
            #expect(made.headers[.cacheControl] == "no-store")
            let token = try #require(made.firstMatch(#"<input id="new-token" readonly value="(co_[^"]+)">"#))
            let authorised = try await client.json(
                .get, "/api/v1/conversations/town/statements", headers: [.authorization: "Bearer \(token)"])
            #expect(authorised.status == .ok)
            let empty = try await browser.post(
                "/admin/tokens", form: [("csrf", try #require(page.csrf)), ("label", " ")])
            #expect(empty.status == .unprocessableContent)
        }
    }

    @Test func smallTextFixes() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            let home = try await browser.get("/")
            #expect(home.contains("<title>Charter</title>"))
            try await AdminSession.signIn(&browser)
            let audit = try await browser.get("/admin/audit?conversation=town&offset=500")
            #expect(audit.contains(#"<td colspan="5">none</td>"#))
        }
        #expect(ByteSize.text(0) == "0 bytes")
        #expect(ByteSize.text(1) == "1 byte")
        #expect(ByteSize.text(999) == "999 bytes")
        #expect(ByteSize.text(12_300) == "12 KB")
        #expect(ByteSize.text(3_400_000) == "3.4 MB")
        #expect(ByteSize.text(999_999) == "1 MB")
    }
}
