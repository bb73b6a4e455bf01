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

/// Comparison runs through the API on a live loopback server whose run service submits to a
/// real single-node Slurm (`scripts/slurm/cluster`): one completes as a Slurm job, one is
/// cancelled through the API and leaves the queue, both with the orchestration tests' stand-in
/// pipeline; and one short real job, the reference pipeline's `smoke` run with a few steps and
/// evaluation items. The whole `smoke` run through Slurm is `scripts/slurm/smoke-run`.
@Suite(.serialized, .slurmCluster) struct SlurmRunTests {
    /// A live server whose runs are Slurm jobs of the stand-in `pipeline`.
    static func serve(
        _ pipeline: String, cluster: SlurmTestCluster.Running,
        configure: (inout RunConfiguration) -> Void = { _ in },
        _ body: @escaping @Sendable (Harness, any TestClientProtocol) async throws -> Void
    ) async throws {
        let h = try await Harness.make()
        var configuration = Fixtures.runConfiguration(
            pipeline: pipeline, runsDirectory: h.database.folder.appendingPathComponent("runs"))
        configuration.pollInterval = .milliseconds(200)
        configure(&configuration)
        let executor = SlurmExecutor(
            settings: SlurmExecutor.Settings(pollInterval: .milliseconds(100), commands: cluster.commands))
        let runs = RunService(
            store: h.store, configuration: configuration, executor: executor, logger: Logger(label: "slurm-runs"))
        let serving = Task { try await runs.run() }
        defer { serving.cancel() }
        let app = try await buildApplication(
            store: h.store, configuration: h.configuration, secret: "live-secret", host: "127.0.0.1", port: 0,
            logger: Logger(label: "live-test"), runs: runs)
        try await app.test(.live) { client in try await body(h, client) }
    }

    /// Polls the run over the API until `done` says so, up to a deadline.
    static func poll(
        _ client: any TestClientProtocol, _ h: Harness, run id: Int, seconds: Double = 120,
        until done: ([String: Any]) -> Bool
    ) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        var body: [String: Any] = [:]
        while ContinuousClock.now < deadline {
            body = try await client.json(.get, "/api/v1/runs/\(id)", headers: h.organiserHeaders).decoded()
            if done(body) { return body }
            try await Task.sleep(for: .milliseconds(200))
        }
        return body
    }

    @Test(.timeLimit(.minutes(3))) func aRunCreatedThroughTheAPICompletesAsASlurmJob() async throws {
        try await SlurmTestCluster.shared.use { cluster in
            try await Self.serve("ok-pipeline", cluster: cluster) { h, client in
                let constitution = try await Fixtures.publishConstitution(
                    in: h.store, conversationID: h.conversation.id)
                let created = try await client.json(
                    .post, "/api/v1/runs", #"{"constitution_id": \#(constitution), "profile": "smoke", "seed": 3}"#,
                    headers: h.organiserHeaders)
                #expect(created.status == .created)
                let id = try #require(try created.decoded()["id"] as? Int)
                let body = try await Self.poll(client, h, run: id) { body in
                    !["queued", "running"].contains(body["state"] as? String ?? "")
                }
                let run = try #require(try await h.store.run(id: Int64(id)))
                #expect(body["state"] as? String == "succeeded", "\(run.failure ?? "")")
                let results = try RunResults.parse(try #require(run.results))
                #expect(results.comparison.count == 3)
                let folder = URL(fileURLWithPath: try #require(run.directory))
                let job = try #require(SlurmExecutor.jobID(inRunFolder: folder))
                let info = try #require(try await cluster.commands.job(job))
                #expect(info.state.rawValue == "COMPLETED")
                #expect(info.name == "charter-run-\(id)")
            }
        }
    }

    @Test(.timeLimit(.minutes(3))) func aCancelThroughTheAPIReachesScancel() async throws {
        try await SlurmTestCluster.shared.use { cluster in
            try await Self.serve("hang-pipeline", cluster: cluster) { h, client in
                let constitution = try await Fixtures.publishConstitution(
                    in: h.store, conversationID: h.conversation.id)
                let created = try await client.json(
                    .post, "/api/v1/runs", #"{"constitution_id": \#(constitution), "profile": "smoke"}"#,
                    headers: h.organiserHeaders)
                let id = try #require(try created.decoded()["id"] as? Int)
                // Running, with the pipeline's first progress event shown.
                let running = try await Self.poll(client, h, run: id) { body in
                    body["state"] as? String == "running" && (body["stages"] as? [Any])?.isEmpty == false
                }
                #expect(running["state"] as? String == "running")
                let run = try #require(try await h.store.run(id: Int64(id)))
                let directory = try #require(run.directory)
                let job = try #require(SlurmExecutor.jobID(inRunFolder: URL(fileURLWithPath: directory)))
                let inQueue = try await cluster.commands.isQueued(job)
                #expect(inQueue)

                let cancelled = try await client.json(
                    .post, "/api/v1/runs/\(id)/cancel", headers: h.organiserHeaders)
                #expect(cancelled.status == .ok)
                #expect(try cancelled.decoded()["state"] as? String == "cancelled")
                let deadline = ContinuousClock.now + .seconds(30)
                var queued = true
                while queued, ContinuousClock.now < deadline {
                    queued = try await cluster.commands.isQueued(job)
                    if queued { try await Task.sleep(for: .milliseconds(100)) }
                }
                #expect(!queued)
                let info = try #require(try await cluster.commands.job(job))
                #expect(info.state.rawValue == "CANCELLED")
            }
        }
    }

    @Test(.timeLimit(.minutes(10))) func aShortRealPipelineRunCompletesAsASlurmJob() async throws {
        try await SlurmTestCluster.shared.use { cluster in
            try await Self.serve(
                "ok-pipeline", cluster: cluster,
                configure: { configuration in
                    configuration.pipelineCommand =
                        Fixtures.repository.appendingPathComponent("scripts/pipeline/run").path
                    configuration.baselinePath = Fixtures.baselinePath
                    configuration.bbqDirectory =
                        Fixtures.repository.deletingLastPathComponent()
                        .appendingPathComponent("shared/evals/bbq/data").path
                    configuration.timeouts[.smoke] = .seconds(8 * 60)
                }
            ) { h, client in
                let constitution = try await Fixtures.publishConstitution(
                    in: h.store, conversationID: h.conversation.id)
                let created = try await client.json(
                    .post, "/api/v1/runs", #"{"constitution_id": \#(constitution), "profile": "smoke", "seed": 5}"#,
                    headers: h.organiserHeaders)
                #expect(created.status == .created)
                let id = try #require(try created.decoded()["id"] as? Int)
                let body = try await Self.poll(client, h, run: id, seconds: 480) { body in
                    !["queued", "running"].contains(body["state"] as? String ?? "")
                }
                let run = try #require(try await h.store.run(id: Int64(id)))
                #expect(body["state"] as? String == "succeeded", "\(run.failure ?? "")")
                let results = try RunResults.parse(try #require(run.results))
                #expect(results.schema == "charter.run-results/2")
                #expect(!results.comparison.isEmpty)
                let folder = URL(fileURLWithPath: try #require(run.directory))
                let job = try #require(SlurmExecutor.jobID(inRunFolder: folder))
                let info = try #require(try await cluster.commands.job(job))
                #expect(info.state.rawValue == "COMPLETED")
            }
        }
    }
}
