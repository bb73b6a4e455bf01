import CharterDomain
import CharterHTTP
import CharterMath
import CharterServices
import CharterStore
import CharterTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
import ZIPFoundation

@Suite struct AnalysisHTTPTests {
    /// 30 participants in two camps over the harness' five statements.
    static func vote(_ h: Harness) async throws {
        for p in 0..<30 {
            for (index, statement) in h.statements.enumerated() {
                let value: VoteValue = index == 0 ? .agree : (p < 15) == index.isMultiple(of: 2) ? .agree : .disagree
                _ = try await h.store.castVote(
                    conversationID: h.conversation.id, participant: .external("p\(p)"), statementID: statement.id,
                    value: value, at: Date())
            }
        }
    }

    @Test func theAPIServesTheLastAnalysisWithItsAge() async throws {
        let h = try await Harness.make()
        try await Self.vote(h)
        try await h.test { client in
            let before = try await client.json(.get, "/api/v1/conversations/town/analysis", headers: h.organiserHeaders)
            #expect(before.status == .ok)
            #expect(try before.decoded()["status"] as? String == "none")
            #expect(try before.decoded()["stale"] as? Bool == true)

            let result = try #require(await h.analysis.analyze(h.conversation.id))
            #expect(result.k == 2)
            let after = try await client.json(.get, "/api/v1/conversations/town/analysis", headers: h.organiserHeaders)
            let body = try after.decoded()
            #expect(body["status"] as? String == "ready")
            #expect(body["vote_count"] as? Int == 150)
            #expect(body["stale"] as? Bool == false)
            #expect((body["age_seconds"] as? Double).map { $0 >= 0 && $0 < 60 } == true)
            let analysis = try #require(body["analysis"] as? [String: Any])
            #expect(analysis["k"] as? Int == 2)
            #expect((analysis["participants"] as? [Any])?.count == 30)
            let statements = try #require(analysis["statements"] as? [[String: Any]])
            let top = statements.max { ($0["gac"] as? Double ?? 0) < ($1["gac"] as? Double ?? 0) }
            #expect(top?["id"] as? Int == Int(h.statements[0].id))

            // A new vote makes the stored analysis stale until the next run.
            _ = try await h.store.castVote(
                conversationID: h.conversation.id, participant: .external("late"), statementID: h.statements[1].id,
                value: .pass, at: Date())
            let stale = try await client.json(.get, "/api/v1/conversations/town/analysis", headers: h.organiserHeaders)
            #expect(try stale.decoded()["stale"] as? Bool == true)
            let denied = try await client.json(.get, "/api/v1/conversations/town/analysis")
            #expect(denied.status == .unauthorized)
        }
    }

    @Test func theOrganiserPageShowsTheMapGroupsAndTable() async throws {
        let h = try await Harness.make()
        _ = try await h.store.addSeedStatements(
            conversationID: h.conversation.id, texts: [#"<img src=x onerror="alert(1)"> & co"#], by: .system)
        try await Self.vote(h)
        let extra = try await h.store.visibleStatements(conversationID: h.conversation.id).last!
        for p in 0..<10 {
            _ = try await h.store.castVote(
                conversationID: h.conversation.id, participant: .external("p\(p)"), statementID: extra.id,
                value: .agree,
                at: Date())
        }
        try await h.test { client in
            var browser = Browser(client: client)
            let home = try await AdminSession.signIn(&browser)
            var page = try await browser.get("/admin/conversations/town/analysis")
            #expect(page.contains("No analysis yet"))
            page = try await browser.post(
                "/admin/conversations/town/analysis", form: [("csrf", try #require(home.csrf))])
            #expect(page.contains("Analysis recomputed."))
            #expect(page.contains("<svg"))
            #expect(page.body.components(separatedBy: "<circle").count - 1 >= 30)
            #expect(page.contains("Group A: ") && page.contains("Group B: "))
            #expect(page.contains("% of group A"))
            #expect(!page.contains("<img src=x"))
            #expect(page.contains("&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; co"))
            let sorted = try await browser.get("/admin/conversations/town/analysis?sort=votes&dir=asc")
            let firstRow = try #require(sorted.firstMatch(#"<tbody>\s*<tr[^>]*><td><a href="[^"]*">(\d+)</a></td>"#))
            #expect(firstRow == String(extra.id))
        }
    }

    /// The map reads without a mouse: every group, statement and (in a small conversation)
    /// participant is a focusable mark named by its text, statements are numbered on the map,
    /// the table beside it lists the same points, and each measure is explained where it is.
    @Test func theMapReadsWithoutAMouseAndTheReportsDownloadAsCSV() async throws {
        let h = try await Harness.make()
        _ = try await h.store.addSeedStatements(
            conversationID: h.conversation.id, texts: ["=HYPERLINK(\"http://x\"), \"quoted\""], by: .system)
        try await Self.vote(h)
        let formula = try await h.store.visibleStatements(conversationID: h.conversation.id).last!
        for p in 0..<6 {
            _ = try await h.store.castVote(
                conversationID: h.conversation.id, participant: .external("p\(p)"), statementID: formula.id,
                value: .pass, at: Date())
        }
        let result = try #require(await h.analysis.analyze(h.conversation.id))
        try await h.test { client in
            var browser = Browser(client: client)
            _ = try await AdminSession.signIn(&browser)
            let page = try await browser.get("/admin/conversations/town/analysis")
            let marks = page.body.components(separatedBy: #"class="mark" "#).count - 1
            let shownStatements = result.statements.filter { !$0.moderatedOut }.count
            #expect(marks == result.participants.count + result.groups.count + shownStatements)
            let focusable = page.body.components(separatedBy: #"tabindex="0" role="img" aria-label=""#).count - 1
            #expect(focusable == marks, "every mark is focusable with a name")
            for statement in h.statements {
                #expect(
                    page.contains(#"aria-hidden="true">\#(statement.id)</text>"#), "statement \(statement.id) numbered")
                #expect(page.contains(#"<th scope="row">#\#(statement.id)</th>"#))
            }
            #expect(page.contains(#"<th scope="row">participant "#))
            for measure in ["Silhouette:", "<dt>GAC</dt>", "<dt>CCAI score</dt>", "<dt>Extremity</dt>"] {
                #expect(page.contains(measure), "\(measure) explained")
            }

            let statements = try await browser.get("/admin/conversations/town/analysis/statements.csv")
            #expect(statements.status == .ok)
            #expect(statements.headers[.contentType] == "text/csv; charset=utf-8")
            let lines = statements.body.split(separator: "\n").map(String.init)
            #expect(lines.first?.hasPrefix("statement,source_id,text,moderated_out,votes,agree,disagree,pass,") == true)
            #expect(lines.first?.contains("group_A_agree_share,group_A_repness_agree") == true)
            #expect(lines.first?.contains("group_B_votes") == true)
            #expect(lines.count == result.statements.count + 1)
            // A formula is neutralised, quotes doubled.
            #expect(statements.contains(#""'=HYPERLINK(""http://x""), ""quoted""""#))
            let first = try #require(result.statements.min { $0.id < $1.id })
            let share = Double(first.groupVotes[0].agree) / Double(first.groupVotes[0].votes)
            #expect(lines[1].hasPrefix("\(first.id),,"))
            let fields = lines[1].split(separator: ",", omittingEmptySubsequences: false)
            #expect(fields[8] == "\(first.groupVotes[0].votes)" && Double(fields[9]) == share)

            let participants = try await browser.get("/admin/conversations/town/analysis/participants.csv")
            let rows = participants.body.split(separator: "\n")
            #expect(rows.first == "participant,source_id,group,in_conversation,votes,x,y")
            #expect(rows.count == result.participants.count + 1)
            let groups = Set(rows.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false)[2] })
            // Participants with too few votes to be clustered have no group.
            #expect(groups.subtracting([""]) == ["A", "B"])
            let clustered = result.participants.filter { $0.group != nil }.count
            #expect(rows.dropFirst().filter { !$0.contains(",,1,") && !$0.contains(",,0,") }.count == clustered)
        }
    }

    /// A statement's page: its votes by group as the analysis counted them, its scores over
    /// time, and its moderation history; another conversation's statement is not found.
    @Test func aStatementPageShowsItsVotesByGroupScoresOverTimeAndModeration() async throws {
        let h = try await Harness.make()
        try await Self.vote(h)
        let result = try #require(await h.analysis.analyze(h.conversation.id))
        let statement = h.statements[1]
        let stats = try #require(result.statements.first { $0.id == statement.id })
        _ = try await h.store.moderate(
            statementIDs: [statement.id], conversationID: h.conversation.id, action: .reject(reason: "<off> topic"),
            by: .system)
        _ = try await h.store.moderate(
            statementIDs: [statement.id], conversationID: h.conversation.id, action: .accept, by: .system)
        let other = try await h.store.createConversation(.init(slug: "other", title: "O", question: "Q"), by: .system)
        let foreign = try await h.store.addSeedStatements(conversationID: other.id, texts: ["X"], by: .system).added[0]
        try await h.test { client in
            var browser = Browser(client: client)
            _ = try await AdminSession.signIn(&browser)
            let page = try await browser.get("/admin/conversations/town/statements/\(statement.id)")
            #expect(page.status == .ok)
            #expect(page.contains("<h1>Statement \(statement.id)</h1>"))
            for (index, votes) in stats.groupVotes.enumerated() {
                let label = ["A", "B"][index]
                let pass = votes.votes - votes.agree - votes.disagree
                #expect(
                    page.contains(
                        #"<th scope="row">Group \#(label)</th><td>\#(votes.agree)</td><td>\#(votes.disagree)</td><td>\#(pass)</td><td>\#(votes.votes)</td>"#
                    ))
            }
            #expect(page.contains(#"<th scope="row">Everyone</th><td>\#(stats.agree)</td>"#))
            #expect(page.contains("GAC and CCAI score by hour"), "the chart")
            #expect(page.contains("<polyline"))
            let hourRow = try NSRegularExpression(pattern: #"<tr><td>\d{4}-\d\d-\d\dT\d\d:00:00Z</td><td><span"#)
            let hours = hourRow.numberOfMatches(in: page.body, range: NSRange(page.body.startIndex..., in: page.body))
            #expect(hours == 1, "one analysis, one hour")
            #expect(page.contains("statement.reject") && page.contains("statement.accept"))
            #expect(
                page.body.range(of: "statement.accept")!.lowerBound
                    < page.body.range(of: "statement.reject")!.lowerBound)
            #expect(!page.contains("<off>"))

            let analysis = try await browser.get("/admin/conversations/town/analysis")
            #expect(analysis.contains(#"<a href="/admin/conversations/town/statements/\#(statement.id)">"#))
            let missing = try await browser.get("/admin/conversations/town/statements/\(foreign.id)")
            #expect(missing.status == .notFound)
            let bad = try await browser.get("/admin/conversations/town/statements/abc")
            #expect(bad.status == .badRequest)
            let huge = try await browser.get("/admin/conversations/town/statements/99999999999999999999")
            #expect(huge.status == .badRequest)
        }
    }

    @Test func theNextStatementFollowsTheAnalysisPriorities() async throws {
        let h = try await Harness.make()
        try await Self.vote(h)
        let result = try #require(await h.analysis.analyze(h.conversation.id))
        let priorities = Dictionary(uniqueKeysWithValues: result.statements.map { ($0.id, $0.priority) })
        try await h.test { client in
            let registered = try await client.json(.post, "/api/v1/conversations/town/participants", #"{"xid": "new"}"#)
            let json = try registered.decoded()
            let token = try #require(json["token"] as? String)
            let id = try #require((json["participant"] as? [String: Any])?["id"] as? Int)
            let next = try await client.json(
                .get, "/api/v1/conversations/town/next", headers: [.authorization: "Bearer \(token)"])
            let shown = try #require((try next.decoded()["statement"] as? [String: Any])?["id"] as? Int)
            let expected = StatementRouting.pick(
                h.statements.map(\.id), priorities: priorities, seed: StatementRouting.seed("p:\(id)", 0))
            #expect(Int64(shown) == expected)
        }
    }

    @Test func theServiceTakesChangedConversationsInTurnAndRespectsTheInterval() async throws {
        let h = try await Harness.make()
        let other = try await h.store.createConversation(.init(slug: "other", title: "O", question: "Q"), by: .system)
        #expect(h.analysis.dueConversation() == nil)
        h.analysis.conversationChanged(h.conversation.id)
        h.analysis.conversationChanged(other.id)
        h.analysis.conversationChanged(h.conversation.id)
        #expect(h.analysis.dueConversation() == h.conversation.id)
        await h.analysis.analyze(h.conversation.id)
        // Changed again right away: its interval (an hour in the harness) has not passed, so
        // the other conversation goes first and this one waits.
        h.analysis.conversationChanged(h.conversation.id)
        #expect(h.analysis.dueConversation() == other.id)
        #expect(h.analysis.dueConversation() == nil)
    }

    @Test(.timeLimit(.minutes(1))) func theRunningServiceAnalysesChangedConversations() async throws {
        let h = try await Harness.make()
        try await Self.vote(h)
        var configuration = AnalysisService.Configuration()
        configuration.debounce = .milliseconds(1)
        configuration.poll = .milliseconds(5)
        let service = AnalysisService(store: h.store, configuration: configuration, logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.run() }
            // Stale at start: analysed without anyone asking.
            for await id in service.analysed where id == h.conversation.id { break }
            _ = try await h.store.castVote(
                conversationID: h.conversation.id, participant: .external("late"), statementID: h.statements[0].id,
                value: .agree, at: Date())
            service.conversationChanged(h.conversation.id)
            for await id in service.analysed where id == h.conversation.id { break }
            // Stopping is not a failure: run() returns normally when cancelled.
            group.cancelAll()
            try await group.waitForAll()
        }
        let stored = try #require(try await h.store.latestAnalysis(conversationID: h.conversation.id))
        #expect(stored.voteCount == 151)
    }

    @Test func aZippedExportImportsLikeTheFolder() async throws {
        let h = try await Harness.make()
        let archive = try Archive(data: Data(), accessMode: .create)
        for name in ["participants-votes.csv", "comments.csv", "summary.csv"] {
            let data = try Data(contentsOf: ImportHTTPTests.folder.appendingPathComponent(name))
            try archive.addEntry(
                with: "brexit-consensus/\(name)", type: .file, uncompressedSize: Int64(data.count),
                compressionMethod: .deflate
            ) { position, size in data.subdata(in: Int(position)..<Int(position) + size) }
        }
        let zipped = try #require(archive.data)
        var headers = h.organiserHeaders
        headers[.contentType] = "application/zip"
        let fields = headers
        try await h.test { client in
            let response = try await client.executeRequest(
                uri: "/api/v1/conversations/import", method: .post, headers: fields, body: ByteBuffer(bytes: zipped))
            #expect(response.status == .created)
            let body = try response.decoded()
            #expect(body["votes_added"] as? Int == 5303)
            #expect(body["conversation"] as? String != nil)
        }
    }

    @Test func theExportDownloadIsAZipThatImportsBack() async throws {
        let h = try await Harness.make()
        try await Self.vote(h)
        await h.analysis.analyze(h.conversation.id)
        try await h.test { client in
            let response = try await client.json(
                .get, "/api/v1/conversations/town/export/polis", headers: h.organiserHeaders)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/zip")
            let archive = try Archive(data: Data(response.body.readableBytesView), accessMode: .read)
            let names = Set(archive.map(\.path))
            #expect(
                names == ["town/summary.csv", "town/comments.csv", "town/votes.csv", "town/participants-votes.csv"])
            var matrix = Data()
            _ = try archive.extract(try #require(archive["town/participants-votes.csv"])) { matrix.append($0) }
            let text = String(decoding: matrix, as: UTF8.self)
            // Charter's groups travel in the group-id column.
            let groupIDs = Set(
                text.split(separator: "\n").dropFirst().compactMap {
                    $0.split(separator: ",", omittingEmptySubsequences: false).dropFirst(2).first
                })
            #expect(groupIDs == ["0", "1"])
            let reimport = try await client.executeRequest(
                uri: "/api/v1/conversations/import?slug=town-copy", method: .post,
                headers: [.authorization: "Bearer \(h.organiserToken)", .contentType: "application/zip"],
                body: response.body)
            #expect(reimport.status == .created)
            #expect(try reimport.decoded()["votes_added"] as? Int == 150)
            let denied = try await client.json(.get, "/api/v1/conversations/town/export/polis")
            #expect(denied.status == .unauthorized)
        }
    }

    @Test func aRestartFindsConversationsWhoseAnalysisIsBehind() async throws {
        let h = try await Harness.make()
        try await Self.vote(h)
        try await h.analysis.markStaleConversations()
        #expect(h.analysis.dueConversation() == h.conversation.id)
        await h.analysis.analyze(h.conversation.id)
        try await h.analysis.markStaleConversations()
        #expect(h.analysis.dueConversation() == nil)
    }
}

@Suite struct ImportHTTPTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
            "shared/polis-opendata/brexit-consensus")

    static func multipart(_ files: [String], boundary: String = "charter-test-boundary") throws -> ByteBuffer {
        var body = Data()
        for name in files {
            body += Data(
                "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(name)\"\r\n".utf8)
            body += Data("Content-Type: text/csv\r\n\r\n".utf8)
            body += try Data(contentsOf: folder.appendingPathComponent(name))
            body += Data("\r\n".utf8)
        }
        body += Data("--\(boundary)--\r\n".utf8)
        return ByteBuffer(bytes: body)
    }

    @Test func aPolisExportIsImportedOnceAsMultipart() async throws {
        let h = try await Harness.make()
        let body = try Self.multipart(["participants-votes.csv", "comments.csv", "votes.csv", "summary.csv"])
        var fields = h.organiserHeaders
        fields[.contentType] = "multipart/form-data; boundary=charter-test-boundary"
        let headers = fields
        try await h.test { client in
            let first = try await client.executeRequest(
                uri: "/api/v1/conversations/import?slug=brexit", method: .post, headers: headers, body: body)
            #expect(first.status == .created)
            let summary = try first.decoded()
            #expect(summary["conversation"] as? String == "brexit")
            #expect(summary["votes_added"] as? Int == 5303)
            #expect(summary["statements_added"] as? Int == 50)
            let again = try await client.executeRequest(
                uri: "/api/v1/conversations/import?slug=brexit", method: .post, headers: headers, body: body)
            #expect(again.status == .ok)
            #expect(try again.decoded()["votes_added"] as? Int == 0)
        }
        let conversation = try #require(try await h.store.conversation(slug: "brexit"))
        let result = try #require(await h.analysis.analyze(conversation.id))
        #expect(result.participantCount == 204 && result.voteCount == 5303)
    }

    @Test func badImportsAreRefusedAndChangeNothing() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            let before = try h.snapshot()
            var multipart = h.organiserHeaders
            multipart[.contentType] = "multipart/form-data; boundary=charter-test-boundary"
            var zip = h.organiserHeaders
            zip[.contentType] = "application/zip"
            var noAuth: HTTPFields = [:]
            noAuth[.contentType] = "multipart/form-data; boundary=charter-test-boundary"
            let cases: [(HTTPFields, ByteBuffer, Int)] = [
                (noAuth, try Self.multipart(["participants-votes.csv"]), 401),
                (multipart, try Self.multipart(["comments.csv"]), 422),
                (multipart, ByteBuffer(string: "not multipart at all"), 400),
                (zip, ByteBuffer(string: "PK but not really a zip"), 400),
                (h.organiserHeaders, ByteBuffer(string: "{}"), 415),
            ]
            for (headers, body, status) in cases {
                let response = try await client.executeRequest(
                    uri: "/api/v1/conversations/import", method: .post, headers: headers, body: body)
                #expect(response.status.code == status)
                #expect(response.errorCode != nil)
            }
            #expect(try h.snapshot() == before)
        }
    }
}
