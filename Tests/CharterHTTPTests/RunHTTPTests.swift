import CharterDomain
import CharterHTTP
import CharterPipeline
import CharterStore
import CharterTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CharterHTTP

@Suite struct RunHTTPTests {
    @Test func queueFollowCompareDownloadAndRepeatThroughTheAPI() async throws {
        let h = try await Harness.make()
        let constitution = try await Fixtures.publishConstitution(in: h.store, conversationID: h.conversation.id)
        try await h.test { client in
            let auth = h.organiserHeaders
            let created = try await client.json(
                .post, "/api/v1/runs",
                #"{"constitution_id": \#(constitution), "profile": "smoke", "seed": 11, "parameters": {"prompts": 6, "note": "first"}}"#,
                headers: auth)
            #expect(created.status == .created)
            let body = try created.decoded()
            #expect(body["state"] as? String == "queued")
            #expect(body["baseline_source"] as? String == Fixtures.baselinePath)
            #expect((body["parameters"] as? [String: Any])?["prompts"] as? Int == 6)
            let id = try #require(body["id"] as? Int)

            let ended = try #require(try await h.runs.executeNow(id: Int64(id), onEvent: nil))
            #expect(ended.state == .succeeded)
            let run = try await client.json(.get, "/api/v1/runs/\(id)", headers: auth)
            #expect(run.status == .ok)
            let detail = try run.decoded()
            #expect(detail["state"] as? String == "succeeded")
            let comparison = try #require(detail["comparison"] as? [[String: Any]])
            #expect(
                comparison.map { $0["metric"] as? String } == ["bbq.accuracy.ambig", "bbq.bias.ambig", "refusal_rate"])
            #expect(comparison.allSatisfy { $0["winner"] is String })
            let stages = try #require(detail["stages"] as? [[String: Any]])
            #expect(stages.count == 11 && stages.allSatisfy { $0["fraction"] as? Double == 1 })
            let logTail = try #require(detail["log_tail"] as? [String])
            #expect(logTail.contains { $0.contains("\"event\": \"done\"") })

            let artefacts = try #require(detail["artefacts"] as? [[String: Any]])
            let results = try #require(artefacts.first { $0["path"] as? String == "output/results.json" })
            let download = try await client.json(.get, try #require(results["url"] as? String), headers: auth)
            #expect(download.status == .ok)
            #expect(download.headers[.contentDisposition]?.contains("attachment") == true)
            #expect(try RunResults.parse(Data(download.text.utf8)).comparison.count == 3)
            for path in ["../charter.sqlite", "/etc/passwd", "output/../../charter.sqlite", "nope.json", ""] {
                let escaped = path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
                let refused = try await client.json(.get, "/api/v1/runs/\(id)/artefact?path=\(escaped)", headers: auth)
                #expect(refused.status == (path.isEmpty ? .badRequest : .notFound), "\(path)")
            }

            let cancelFinished = try await client.json(.post, "/api/v1/runs/\(id)/cancel", headers: auth)
            #expect(cancelFinished.status == .conflict)
            let again = try await client.json(.post, "/api/v1/runs/\(id)/retry", headers: auth)
            #expect(again.status == .created)
            #expect(try again.decoded()["retry_of"] as? Int == id)
            #expect(try again.decoded()["seed"] as? Int == 11)
            let againID = try #require(try again.decoded()["id"] as? Int)
            let retryQueued = try await client.json(.post, "/api/v1/runs/\(againID)/retry", headers: auth)
            #expect(retryQueued.status == .conflict)
            let cancelled = try await client.json(.post, "/api/v1/runs/\(againID)/cancel", headers: auth)
            #expect(try cancelled.decoded()["state"] as? String == "cancelled")

            let list = try await client.json(.get, "/api/v1/runs", headers: auth)
            #expect((try list.decoded()["runs"] as? [[String: Any]])?.map { $0["id"] as? Int } == [againID, id])
        }
    }

    @Test func baselinesCanBeAnotherVersionOrAnUploadedConstitution() async throws {
        let h = try await Harness.make()
        let constitution = try await Fixtures.publishConstitution(in: h.store, conversationID: h.conversation.id)
        let other = try await Fixtures.publishConstitution(in: h.store, conversationID: h.conversation.id)
        let uploaded = try String(contentsOfFile: Fixtures.baselinePath, encoding: .utf8)
        try await h.test { client in
            let byID = try await client.json(
                .post, "/api/v1/runs", #"{"constitution_id": \#(constitution), "baseline_constitution_id": \#(other)}"#,
                headers: h.organiserHeaders)
            #expect(byID.status == .created)
            #expect(try byID.decoded()["baseline_source"] as? String == "constitution \(other) (town v2)")
            let byFile = try await client.json(
                .post, "/api/v1/runs", #"{"constitution_id": \#(constitution), "baseline_constitution": \#(uploaded)}"#,
                headers: h.organiserHeaders)
            #expect(byFile.status == .created)
            #expect(try byFile.decoded()["baseline_source"] as? String == "uploaded in the request")
            // The same constitution as the seed file, so the same hash.
            let bySeed = try await client.json(
                .post, "/api/v1/runs", #"{"constitution_id": \#(constitution), "baseline": "charter"}"#,
                headers: h.organiserHeaders)
            #expect(
                try bySeed.decoded()["baseline_sha256"] as? String
                    == (try byFile.decoded()["baseline_sha256"] as? String))
        }
    }

    @Test(arguments: [
        (#"{"constitution_id": 1, "profile": "huge"}"#, HTTPResponse.Status.unprocessableContent),
        (#"{"constitution_id": 999}"#, .notFound),
        (#"{"constitution_id": 1, "baseline_constitution_id": 999}"#, .notFound),
        (#"{"constitution_id": 1, "baseline": "mine"}"#, .unprocessableContent),
        (#"{"constitution_id": 1, "baseline": "charter", "baseline_constitution_id": 1}"#, .unprocessableContent),
        (#"{"constitution_id": 1, "baseline_constitution": {"principles": []}}"#, .unprocessableContent),
        (#"{"constitution_id": 1, "baseline_constitution": [1, 2]}"#, .unprocessableContent),
        (#"{"constitution_id": 1, "parameters": {"a b": 1}}"#, .unprocessableContent),
        (#"{"constitution_id": 1, "parameters": {"a": [1]}}"#, .badRequest),
        (#"{"constitution_id": "one"}"#, .badRequest),
        (#"{"profile": "smoke"}"#, .badRequest),
        ("{not json", .badRequest),
    ])
    func badRunRequestsChangeNothing(body: String, status: HTTPResponse.Status) async throws {
        let h = try await Harness.make()
        _ = try await Fixtures.publishConstitution(in: h.store, conversationID: h.conversation.id)
        let before = try h.snapshot()
        try await h.test { client in
            let response = try await client.json(.post, "/api/v1/runs", body, headers: h.organiserHeaders)
            #expect(response.status == status)
            #expect(response.errorCode != nil)
            let anonymous = try await client.json(.post, "/api/v1/runs", body)
            #expect(anonymous.status == .unauthorized)
            let wrongType = try await client.json(
                .post, "/api/v1/runs", body, headers: h.organiserHeaders + [.contentType: "text/plain"])
            #expect(wrongType.status == .unsupportedMediaType)
        }
        #expect(try h.snapshot() == before)
    }

    @Test func researchersRunAndReadComparisonsFromTheAdminPages() async throws {
        let h = try await Harness.make()
        let constitution = try await Fixtures.publishConstitution(in: h.store, conversationID: h.conversation.id)
        try await h.test { client in
            var browser = Browser(client: client)
            #expect(try await browser.get("/admin/runs").path == "/admin/login")
            try await AdminSession.signIn(&browser)
            let list = try await browser.get("/admin/runs")
            #expect(list.contains("Town hall constitution") == false)  // the option label is the conversation's
            #expect(list.contains("Town hall v1"))
            let csrf = try #require(list.csrf)

            // Without the CSRF token nothing is queued.
            let forged = try await browser.post(
                "/admin/runs", form: [("constitution_id", String(constitution)), ("profile", "smoke")])
            #expect(forged.status == .forbidden)
            #expect(try await h.store.runs(offset: 0, limit: 10).total == 0)

            // The form is multipart: it can carry a baseline constitution file.
            let baseline = try String(contentsOfFile: Fixtures.baselinePath, encoding: .utf8)
            let boundary = "----charter-test"
            var multipart = ""
            for (name, value) in [
                ("csrf", csrf), ("constitution_id", String(constitution)), ("baseline", "upload"),
                ("profile", "smoke"), ("seed", "5"), ("parameters", "prompts=6\n# a comment\nnote=<b>x</b>"),
            ] {
                multipart += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n"
            }
            multipart +=
                "--\(boundary)\r\nContent-Disposition: form-data; name=\"baseline_file\"; filename=\"ours.json\"\r\nContent-Type: application/json\r\n\r\n\(baseline)\r\n--\(boundary)--\r\n"
            let queued = try await browser.post(
                "/admin/runs", rawBody: multipart, contentType: "multipart/form-data; boundary=\(boundary)")
            #expect(queued.path == "/admin/runs/1")
            #expect(queued.contains("Run 1: queued"))
            #expect(queued.contains(#"<meta http-equiv="refresh" content="5">"#))
            #expect(queued.contains("uploaded ours.json"))
            #expect(queued.contains("note=&lt;b&gt;x&lt;/b&gt;"))
            #expect(!queued.contains("<b>x</b>"))

            let missingFile = try await browser.post(
                "/admin/runs",
                form: [("csrf", csrf), ("constitution_id", String(constitution)), ("baseline", "upload")])
            #expect(missingFile.status == .unprocessableContent)
            #expect(missingFile.contains("Choose the constitution file to upload."))

            _ = try await h.runs.executeNow(id: 1, onEvent: nil)
            let done = try await browser.get("/admin/runs/1")
            #expect(done.contains("Run 1: succeeded"))
            #expect(!done.contains("http-equiv=\"refresh\""))
            #expect(done.contains("<h2>Comparison</h2>"))
            #expect(done.contains("BBQ bias score, ambiguous"))
            #expect(done.body.components(separatedBy: "<svg").count - 1 == 4)
            #expect(done.contains("<progress max=\"3\" value=\"3\""))
            #expect(done.contains("/admin/runs/1/artefact?path=output/results.json"))
            let artefact = try await browser.get("/admin/runs/1/artefact?path=manifest.json")
            #expect(artefact.body.contains("charter.run-manifest/1"))

            let retried = try await browser.post("/admin/runs/1/retry", form: [("csrf", csrf)])
            #expect(retried.path == "/admin/runs/2")
            let cancelled = try await browser.post("/admin/runs/2/cancel", form: [("csrf", csrf)])
            #expect(cancelled.contains("Run 2: cancelled"))
            #expect(cancelled.contains("cancelled by \(Harness.email) before it started"))
        }
    }

    @Test func chartsEscapeWhatThePipelineWrote() throws {
        let hostile = "<script>alert(1)</script>"
        let results = try RunResults.parse(
            Data(
                #"""
                {"schema": "charter.run-results/1", "metrics": [{"name": "m", "better": "higher"}],
                 "arms": {"ccai": {"metrics": {"m": 1}, "bbq": {"\#(hostile)": {"ambig": {"bias": 250}}},
                                   "losses": {"\#(hostile)": [[1, 2], [2, 1]]}},
                          "baseline": {"metrics": {"m": 0}, "bbq": {"\#(hostile)": {"ambig": {"bias": -10}}}}}}
                """#.utf8))
        let bars = try #require(RunCharts.bbqBias(results, context: "ambig", title: hostile))
        let curve = try #require(RunCharts.losses(results, stage: hostile, title: "t"))
        for svg in [bars, curve] {
            #expect(!svg.contains("<script>"))
            #expect(svg.contains("&lt;script&gt;"))
        }
        // A bias past the scale is drawn at its edge, not off the chart.
        #expect(!bars.contains("width=\"-"))
        #expect(RunCharts.bbqBias(results, context: "disambig", title: "t") != nil)
        #expect(RunCharts.losses(results, stage: "sft", title: "t") == nil)
    }
}
