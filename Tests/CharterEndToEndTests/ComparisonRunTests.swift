import CharterDomain
import CharterHTTP
import CharterPipeline
import CharterSQLite
import CharterStore
import CharterTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

/// A comparison run from end to end: queued over HTTP on a live loopback server, executed by the
/// run service with the real reference pipeline (`scripts/pipeline/run`, the `smoke` profile:
/// SL-CAI, SFT, AI feedback, DPO and BBQ on a tiny model, on the CPU), and read back from the
/// run page. Needs the pipeline's Python environment (`scripts/pipeline/install`).
@Suite struct ComparisonRunTests {
    @Test(.timeLimit(.minutes(20))) func theReferencePipelineComparesBothArms() async throws {
        let h = try await Harness.make()
        let constitution = try await Fixtures.publishConstitution(in: h.store, conversationID: h.conversation.id)
        var configuration = RunConfiguration()
        configuration.runsDirectory = h.database.folder.appendingPathComponent("runs")
        configuration.pipelineCommand = Fixtures.repository.appendingPathComponent("scripts/pipeline/run").path
        configuration.baselinePath = Fixtures.baselinePath
        configuration.bbqDirectory =
            Fixtures.repository.deletingLastPathComponent()
            .appendingPathComponent("shared/evals/bbq/data").path
        configuration.timeouts[.smoke] = .seconds(15 * 60)
        configuration.pollInterval = .milliseconds(200)
        let runs = RunService(store: h.store, configuration: configuration, logger: Logger(label: "e2e-runs"))
        let serving = Task { try await runs.run() }
        defer { serving.cancel() }

        let app = try await buildApplication(
            store: h.store, configuration: h.configuration, secret: "live-secret", host: "127.0.0.1", port: 0,
            logger: Logger(label: "live-test"), runs: runs)
        try await app.test(.live) { client in
            let created = try await client.json(
                .post, "/api/v1/runs", #"{"constitution_id": \#(constitution), "profile": "smoke", "seed": 3}"#,
                headers: h.organiserHeaders)
            #expect(created.status == .created)
            let id = try #require(try created.decoded()["id"] as? Int)

            // Follow the run as a client would, until it ends.
            var state = "queued"
            var sawProgress = false
            while state == "queued" || state == "running" {
                try await Task.sleep(for: .seconds(1))
                let run = try await client.json(.get, "/api/v1/runs/\(id)", headers: h.organiserHeaders)
                let body = try run.decoded()
                state = body["state"] as? String ?? "?"
                if let stages = body["stages"] as? [[String: Any]], !stages.isEmpty, state == "running" {
                    sawProgress = true
                }
            }
            let run = try #require(try await h.store.run(id: Int64(id)))
            #expect(state == "succeeded", "\(run.failure ?? "")")
            #expect(sawProgress)
            let results = try RunResults.parse(try #require(run.results))
            #expect(results.profile == "smoke")
            for arm in ["ccai", "baseline"] {
                let values = try #require(results.arms[arm])
                #expect(values.metrics.values.contains { $0 != nil })
                #expect(values.bbq?.isEmpty == false)
                #expect(values.losses?["sft"]?.isEmpty == false)
                #expect(values.losses?["dpo"]?.isEmpty == false)
            }
            // Both arms saw the same settings; only the constitutions differ.
            #expect(results.arms["ccai"]?.constitutionSHA256 == run.ccaiSHA256)
            #expect(results.arms["baseline"]?.constitutionSHA256 == run.request.baselineSHA256)

            var browser = Browser(client: client)
            let login = try await browser.get("/admin/login")
            _ = try await browser.post(
                "/admin/login",
                form: [("csrf", try #require(login.csrf)), ("email", Harness.email), ("password", Harness.password)])
            let page = try await browser.get("/admin/runs/\(id)")
            #expect(page.contains("Run \(id): succeeded"))
            #expect(page.contains("<h2>Comparison</h2>"))
            #expect(page.contains("BBQ bias score"))
            #expect(page.body.components(separatedBy: "<svg").count - 1 >= 3)
            #expect(page.contains("output/ccai/sl.jsonl"))
            #expect(page.contains("output/baseline/preferences.jsonl"))
        }
    }
}
