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
                #"{"constitution_id": \#(constitution), "profile": "smoke", "seed": 11, "parameters": {"prompts": 6, "device": "cpu"}}"#,
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
                ("profile", "smoke"), ("seed", "5"), ("parameters", "prompts=6\n# a comment"),
                ("param.bbq_categories", "<b>x</b>"),
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
            #expect(queued.contains("bbq_categories=&lt;b&gt;x&lt;/b&gt;, prompts=6"))
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
        let bars = try #require(RunCharts.bbqBias(results, context: "ambig", title: hostile)).svg
        let curve = try #require(RunCharts.losses(results, stage: hostile, title: "t")).svg
        for svg in [bars, curve] {
            #expect(!svg.contains("<script>"))
            #expect(svg.contains("&lt;script&gt;"))
        }
        // A bias past the scale is drawn at its edge, not off the chart.
        #expect(!bars.contains("width=\"-"))
        #expect(RunCharts.bbqBias(results, context: "disambig", title: "t") != nil)
        #expect(RunCharts.losses(results, stage: "sft", title: "t") == nil)
    }

    /// Multipart body of the new-run form.
    static func multipart(_ fields: [(String, String)], boundary: String = "----charter-test") -> String {
        fields.map { "--\(boundary)\r\nContent-Disposition: form-data; name=\"\($0.0)\"\r\n\r\n\($0.1)\r\n" }
            .joined() + "--\(boundary)--\r\n"
    }

    @Test(arguments: [
        (#"{"promts": 6}"#, "The pipeline has no parameter \"promts\"; did you mean prompts?"),
        (#"{"prompts": "eight"}"#, "prompts must be a whole number, not \"eight\"."),
        (#"{"prompts": 2.5}"#, "prompts must be a whole number, not 2.5."),
        (#"{"prompts": 0}"#, "prompts must be at least 1, not 0."),
        (#"{"lora": 1}"#, "lora must be true or false, not 1."),
        (#"{"bbq_scoring": "vibes"}"#, "bbq_scoring must be one of letter, loglik, not \"vibes\"."),
        (#"{"sft_max_steps": 0}"#, "sft_max_steps must be -1 or at least 1, not 0."),
        (#"{"alpha": 1}"#, "alpha must be in (0, 1), not 1."),
    ])
    func theAPIRefusesParametersThePipelineWouldRefuseBeforeQueueing(parameters: String, message: String)
        async throws
    {
        let h = try await Harness.make()
        let constitution = try await Fixtures.publishConstitution(in: h.store, conversationID: h.conversation.id)
        try await h.test { client in
            let refused = try await client.json(
                .post, "/api/v1/runs", #"{"constitution_id": \#(constitution), "parameters": \#(parameters)}"#,
                headers: h.organiserHeaders)
            #expect(refused.status == .unprocessableContent)
            #expect(refused.errorCode == "invalid")
            let error = try #require(try refused.decoded()["error"] as? [String: Any])
            #expect((error["message"] as? String)?.hasPrefix(message) == true, "\(error)")
        }
        #expect(try await h.store.runs(offset: 0, limit: 10).total == 0, "nothing is queued")
    }

    @Test func theGPUProfileNeedsAModelAndValidParametersAreQueued() async throws {
        let h = try await Harness.make()
        let constitution = try await Fixtures.publishConstitution(in: h.store, conversationID: h.conversation.id)
        try await h.test { client in
            let gpu = try await client.json(
                .post, "/api/v1/runs", #"{"constitution_id": \#(constitution), "profile": "gpu"}"#,
                headers: h.organiserHeaders)
            #expect(gpu.status == .unprocessableContent)
            #expect(gpu.text.contains("The gpu profile needs model_path"))
            #expect(try await h.store.runs(offset: 0, limit: 10).total == 0)
            let valid = try await client.json(
                .post, "/api/v1/runs",
                #"{"constitution_id": \#(constitution), "parameters": {"prompts": 6, "lora": true, "bbq_scoring": "letter", "sft_lr": 0.001, "sft_max_steps": -1}}"#,
                headers: h.organiserHeaders)
            #expect(valid.status == .created)
            let queued = try #require(try await h.store.runs(offset: 0, limit: 10).items.first)
            #expect(
                queued.request.parameters == [
                    "prompts": .number(6), "lora": .bool(true), "bbq_scoring": .string("letter"),
                    "sft_lr": .number(0.001), "sft_max_steps": .number(-1),
                ])
        }
    }

    @Test func theRunFormHasAFieldPerPipelineParameterAndRefusesBadValuesAtOnce() async throws {
        let h = try await Harness.make()
        let constitution = try await Fixtures.publishConstitution(in: h.store, conversationID: h.conversation.id)
        try await h.test { client in
            var browser = Browser(client: client)
            try await AdminSession.signIn(&browser)
            let form = try await browser.get("/admin/runs")
            let csrf = try #require(form.csrf)
            // Fields, types and defaults come from the pipeline's own list.
            let table = try PipelineParameters.decode(
                Data(
                    contentsOf: Fixtures.repository.appendingPathComponent(
                        "scripts/pipeline/charter_pipeline/parameters.json")))
            for parameter in table.parameters {
                #expect(form.contains(#"name="param.\#(parameter.name)""#), "\(parameter.name)")
            }
            #expect(
                form.contains(
                    #"<input id="param-prompts" name="param.prompts" type="number" step="1" min="1" value="" aria-describedby="param-prompts-hint">"#
                ))
            #expect(form.contains("Default: 6 (smoke), 8 (small), 10000 (gpu); at least 1."))
            #expect(form.contains(#"<input id="param-sft_lr" name="param.sft_lr" type="number" step="any""#))
            #expect(
                form.contains(
                    #"<select id="param-bbq_scoring" name="param.bbq_scoring" aria-describedby="param-bbq_scoring-hint"><option value="" selected>the profile&#39;s default</option><option value="letter">letter</option><option value="loglik">loglik</option></select>"#
                ))
            #expect(form.contains(#"<select id="param-lora" name="param.lora""#))
            // Each profile says how long it takes; with no finished run, the pipeline's estimate.
            #expect(form.contains("about 30 s on two CPU cores"))
            #expect(form.contains("(the pipeline&#39;s estimate: no run of this profile has finished here yet)"))

            let base = [("csrf", csrf), ("constitution_id", String(constitution)), ("profile", "smoke"), ("seed", "3")]
            for (field, value, message) in [
                ("param.prompts", "eight", "prompts must be a whole number, not &quot;eight&quot;."),
                ("param.prompts", "0", "prompts must be at least 1, not 0."),
                ("param.promts", "6", "The pipeline has no parameter &quot;promts&quot;; did you mean prompts?"),
                ("param.alpha", "1.5", "alpha must be in (0, 1), not 1.5."),
            ] {
                let refused = try await browser.post(
                    "/admin/runs", rawBody: Self.multipart(base + [(field, value)]),
                    contentType: "multipart/form-data; boundary=----charter-test")
                #expect(refused.status == .unprocessableContent)
                #expect(refused.contains(#"<p class="error" role="alert">\#(message)"#), "\(field)")
                // The form comes back as it was sent, the field at fault marked.
                #expect(refused.contains("<details class=\"parameters\" open>"))
                #expect(refused.contains(#"<input id="seed" name="seed" type="number" step="1" value="3">"#))
                if field != "param.promts" {
                    #expect(
                        refused.contains(
                            #"value="\#(value)" aria-describedby="\#(field.replacingOccurrences(of: ".", with: "-"))-hint" aria-invalid="true">"#
                        ))
                    #expect(refused.contains(#"<strong class="field-error">\#(message)</strong>"#))
                }
            }
            #expect(try await h.store.runs(offset: 0, limit: 10).total == 0, "nothing was queued")

            let queued = try await browser.post(
                "/admin/runs",
                rawBody: Self.multipart(
                    base + [("param.prompts", "6"), ("param.lora", ""), ("param.bbq_scoring", "letter")]),
                contentType: "multipart/form-data; boundary=----charter-test")
            #expect(queued.path == "/admin/runs/1")
            let run = try #require(try await h.store.run(id: 1))
            #expect(run.request.parameters == ["prompts": .number(6), "bbq_scoring": .string("letter")])

            // Once a run of a profile has finished here, its time is the measured one.
            _ = try await h.runs.executeNow(id: 1, onEvent: nil)
            let after = try await browser.get("/admin/runs")
            #expect(after.contains("<strong>smoke</strong>: a tiny model"))
            #expect(after.body.contains(/took \d+ s in the one run that finished here/))
        }
    }

    @Test func chartsHaveTicksWordsAndAMissingValueUnlikeZero() throws {
        let results = try RunResults.parse(
            Data(
                #"""
                {"schema": "charter.run-results/1", "metrics": [{"name": "m", "better": "higher"}],
                 "arms": {"ccai": {"metrics": {"m": 1},
                                   "bbq": {"Disability_status": {"ambig": {"bias": 0}}, "harmless_base": {"ambig": {"bias": 12.5}}},
                                   "losses": {"sft": [[1, 2.76], [2, 2.02], [3, 1.5], [4, 1.41]]}},
                          "baseline": {"metrics": {"m": 0},
                                       "bbq": {"harmless_base": {"ambig": {"bias": -40}}},
                                       "losses": {"sft": [[1, 2.7], [2, 2.1], [3, 1.7], [4, 1.6]]}}}}
                """#.utf8))
        let bars = try #require(RunCharts.bbqBias(results, context: "ambig", title: "BBQ bias, ambiguous"))
        #expect(bars.title == "BBQ bias, ambiguous")
        let svg = bars.svg
        // Fits any width: a viewBox, as wide as its container.
        #expect(svg.contains(#"viewBox="0 0 560 "#) && svg.contains(#"width="100%""#))
        // The title is the caption above the chart, never text under the legend.
        #expect(!svg.contains(">BBQ bias, ambiguous</text>"))
        #expect(svg.contains("<title>BBQ bias, ambiguous</title>"))
        // Numbered ticks on the axis.
        #expect(svg.components(separatedBy: #"data-tick="x""#).count - 1 == 5)
        for tick in ["-100", "-50", "0", "50", "100"] { #expect(svg.contains(##"fill="#444">\##(tick)</text>"##)) }
        // Category names as words.
        #expect(svg.contains(">Disability status</text>") && svg.contains(">Harmless base</text>"))
        #expect(!svg.contains("Disability_status") && !svg.contains("harmless_base"))
        // Baseline has no Disability status value: hatched and "n/a", not a bar; CCAI's zero is
        // a mark on the zero line with its value.
        #expect(svg.components(separatedBy: #"data-missing="true""#).count - 1 == 1)
        #expect(svg.contains("<title>Disability status · Baseline: no value</title>"))
        #expect(svg.contains(">n/a</text>") && svg.contains("n/a: no value"))
        #expect(svg.contains(##"fill="url(#bbq-ambig-hatch)""##) && svg.contains(#"<pattern id="bbq-ambig-hatch""#))
        #expect(svg.contains(##"width="3" height="12" fill="#1f6feb"><title>Disability status · CCAI: 0.0</title>"##))
        #expect(svg.contains(">12.5</text>") && svg.contains(">-40.0</text>"))
        // The legend's row is above the plot.
        #expect(RunCharts.legendTop + RunCharts.legendHeight < RunCharts.plotTop - 10)

        let losses = try #require(RunCharts.losses(results, stage: "sft", title: "SFT loss")).svg
        #expect(losses.components(separatedBy: #"data-tick="y""#).count - 1 >= 4)
        #expect(losses.components(separatedBy: #"data-tick="x""#).count - 1 >= 4)
        for tick in [">1</text>", ">2</text>", ">3</text>", ">4</text>", ">0</text>"] {
            #expect(losses.contains(tick), "\(tick)")
        }
        #expect(losses.contains(">optimiser step</text>") && losses.contains(">loss</text>"))
        #expect(losses.components(separatedBy: "<circle").count - 1 == 8)

        #expect(RunCharts.words("harmless_base") == "Harmless base")
        #expect(RunCharts.words("Race_x_SES") == "Race x SES")
        #expect(RunCharts.words("sft") == "SFT")
        #expect(
            RunCharts.readable("BBQ accuracy, ambiguous contexts, Disability_status")
                == "BBQ accuracy, ambiguous contexts, Disability status")
        let (ticks, low, high) = RunCharts.ticks(0, 2.76, whole: false)
        #expect(ticks.first == 0 && low == 0 && high >= 2.76 && ticks.count <= 7)
    }
}
