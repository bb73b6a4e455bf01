import CharterCompiler
import CharterDomain
import CharterPipeline
import CharterSQLite
import CharterStore
import CharterTestSupport
import Foundation
import Logging
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct PipelineEventTests {
    @Test func contractLinesBecomeEvents() {
        #expect(
            PipelineEvent.parse(#"{"event":"progress","arm":"ccai","stage":"sft","step":12,"of":40}"#)
                == .progress(arm: "ccai", stage: "sft", step: 12, of: 40))
        #expect(
            PipelineEvent.parse(#"{"stage":"sft","arm":"ccai","progress":0.4,"event":"progress"}"#)
                == .progress(arm: "ccai", stage: "sft", step: 400, of: 1000))
        #expect(
            PipelineEvent.parse(
                #"{"event":"metric","arm":"baseline","stage":"dpo","name":"loss","step":3,"value":0.5}"#)
                == .metric(arm: "baseline", stage: "dpo", name: "loss", step: 3, value: 0.5))
        #expect(PipelineEvent.parse(#"{"event":"log","message":"hello"}"#) == .log("hello"))
        #expect(PipelineEvent.parse(#"{"event":"done","results":"results.json"}"#) == .done(results: "results.json"))
        // A step past the end is clamped; a bar never shows more than 100 %.
        #expect(
            PipelineEvent.parse(#"{"event":"progress","stage":"sl","step":50,"of":40}"#)
                == .progress(arm: nil, stage: "sl", step: 40, of: 40))
    }

    @Test(arguments: [
        "Epoch 1/3: loss 2.1", "{not json", #"{"event":"progress","stage":"sft"}"#,
        #"{"event":"progress","stage":"sft","step":1,"of":0}"#, #"{"event":"metric","name":"loss","value":"x"}"#,
        #"{"event":"metric","name":"loss","value":true}"#, #"{"event":"unknown"}"#, #"["event"]"#, "",
    ])
    func otherLinesAreOnlyLogged(_ line: String) {
        #expect(PipelineEvent.parse(line) == nil)
    }

    @Test func progressKeepsOneBarPerArmAndStageAndBoundedCurves() {
        var progress = RunProgress()
        progress.apply(.progress(arm: "ccai", stage: "sl", step: 1, of: 4))
        progress.apply(.progress(arm: "baseline", stage: "sl", step: 2, of: 4))
        progress.apply(.progress(arm: "ccai", stage: "sl", step: 3, of: 4))
        #expect(progress.stages.count == 2)
        #expect(progress.stages[0].fraction == 0.75)
        for step in 1...1000 { progress.apply(.metric(arm: "ccai", stage: "sft", name: "loss", step: step, value: 1)) }
        #expect(progress.series.count == 1)
        #expect(progress.series[0].points.count <= RunProgress.maximumPoints)
        #expect(progress.series[0].points.last?[0] == 1000)
    }
}

@Suite struct RunResultsTests {
    static func results(ccai: Double, baseline: Double, better: String, dropBaselineValue: Bool = false) -> Data {
        let baselineMetrics = dropBaselineValue ? "{}" : #"{"m": \#(baseline)}"#
        return Data(
            #"""
            {"schema": "charter.run-results/1", "metrics": [{"name": "m", "label": "M", "better": "\#(better)"}],
             "arms": {"ccai": {"metrics": {"m": \#(ccai)}}, "baseline": {"metrics": \#(baselineMetrics)}}}
            """#.utf8)
    }

    @Test func theBetterArmFollowsTheMetricsDirection() throws {
        let higher = try RunResults.parse(Self.results(ccai: 0.8, baseline: 0.6, better: "higher"))
        #expect(higher.comparison[0].winner == "ccai")
        #expect(abs((higher.comparison[0].difference ?? 0) - 0.2) < 1e-12)
        #expect(
            try RunResults.parse(Self.results(ccai: 0.8, baseline: 0.6, better: "lower")).comparison[0].winner
                == "baseline")
        // Bias: −5 is nearer to no bias than 12.
        #expect(
            try RunResults.parse(Self.results(ccai: -5, baseline: 12, better: "zero")).comparison[0].winner == "ccai")
        #expect(try RunResults.parse(Self.results(ccai: 3, baseline: -3, better: "zero")).comparison[0].winner == "tie")
    }

    static let version2 = Data(
        #"""
        {"schema": "charter.run-results/2",
         "metrics": [{"name": "bias", "label": "Bias", "better": "zero", "primary": true},
                     {"name": "mmlu", "label": "MMLU", "better": "higher", "primary": true},
                     {"name": "liberal", "label": "Liberal", "better": "none", "primary": true},
                     {"name": "bias.Age", "label": "Bias, age", "better": "zero", "primary": false}],
         "arms": {
           "ccai": {"metrics": {"bias": -2.0, "mmlu": 0.31, "liberal": 0.6, "bias.Age": 1.0},
                    "estimates": {"bias": {"value": -2.0, "n": 400, "ci95": [-6.0, 2.0], "replicates": [-2.0]}},
                    "optimizer_steps": {"sft": 30, "dpo": 40}},
           "baseline": {"metrics": {"bias": 9.0, "mmlu": 0.30, "liberal": 0.4, "bias.Age": null},
                        "estimates": {"bias": {"value": 9.0, "n": 400, "ci95": [5.0, 13.0]}},
                        "optimizer_steps": {"sft": 30, "dpo": 40}}},
         "base": {"name": "tiny", "metrics": {"bias": 4.0, "mmlu": 0.32}},
         "comparisons": {"alpha": 0.05, "tested_rows": 4, "significant_rows": 1, "too_small_to_detect": false,
           "rows": [
             {"metric": "bias", "a": "ccai", "b": "base", "value_a": -2.0, "value_b": 4.0, "difference": -6.0,
              "significant": false, "verdict": "no detectable difference"},
             {"metric": "bias", "label": "Bias", "better": "zero", "a": "ccai", "b": "baseline", "value_a": -2.0,
              "value_b": 9.0, "difference": -11.0, "difference_ci95": [-17.0, -5.0], "n": 400, "p_value": 0.001,
              "p_holm": 0.004, "tested": true, "significant": true, "verdict": "ccai better"},
             {"metric": "mmlu", "label": "MMLU", "better": "higher", "a": "ccai", "b": "baseline", "value_a": 0.31,
              "value_b": 0.30, "difference": 0.01, "difference_ci95": [-0.02, 0.04], "n": 570, "p_value": 0.04,
              "p_holm": 0.12, "tested": true, "significant": false, "verdict": "no detectable difference"},
             {"metric": "liberal", "label": "Liberal", "better": "none", "a": "ccai", "b": "baseline",
              "value_a": 0.6, "value_b": 0.4, "difference": 0.2, "n": 50, "p_value": 0.01, "p_holm": 0.03,
              "tested": true, "significant": true, "verdict": "ccai higher"},
             {"metric": "judge.cross.ccai", "label": "Cross-judged", "better": "higher", "a": "ccai",
              "b": "baseline", "value_a": 0.7, "value_b": 0.3, "difference": 0.2, "n": 12, "tested": true,
              "significant": false, "verdict": "no detectable difference", "circular": true}]},
         "distributed": {"world_size": 2, "backend": "gloo"}}
        """#.utf8)

    @Test func version2ComparesOnlyWhatTheTestsSupport() throws {
        let results = try RunResults.parse(Self.version2)
        let rows = results.comparison
        // The arms against each other; the rows against the base model give the base column.
        #expect(rows.map(\.name) == ["bias", "mmlu", "liberal", "judge.cross.ccai"])
        let bias = try #require(rows.first)
        #expect(bias.winner == "ccai" && bias.significant == true)
        #expect(bias.ccaiCI == [-6.0, 2.0] && bias.baselineCI == [5.0, 13.0] && bias.differenceCI == [-17.0, -5.0])
        #expect(bias.base == 4.0 && bias.n == 400 && bias.pHolm == 0.004)
        // Better by its point value, but not after Holm: no winner.
        let mmlu = rows[1]
        #expect(mmlu.ccai ?? 0 > mmlu.baseline ?? 0)
        #expect(mmlu.winner == nil && mmlu.verdict == "no detectable difference")
        // A stated view has no better direction: never a winner, even when significant.
        #expect(rows[2].winner == nil && rows[2].verdict == "ccai higher")
        #expect(rows[3].circular && rows[3].difference == 0.2)
        #expect(results.distributed?.worldSize == 2 && results.distributed?.backend == "gloo")
        #expect(results.arms["ccai"]?.optimizerSteps == ["sft": 30, "dpo": 40])
        #expect(!results.tooSmallToDetect)
    }

    @Test func aRunTooSmallToDetectAnythingSaysSo() throws {
        let text = String(decoding: Self.version2, as: UTF8.self).replacingOccurrences(
            of: #""too_small_to_detect": false"#, with: #""too_small_to_detect": true"#)
        #expect(try RunResults.parse(Data(text.utf8)).tooSmallToDetect)
    }

    @Test func malformedResultsSayWhatIsWrong() {
        func reason(_ text: String) -> String? {
            do {
                _ = try RunResults.parse(Data(text.utf8))
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(reason("not json")?.contains("not JSON") == true)
        #expect(reason(#"{"schema": "other/2", "metrics": [], "arms": {}}"#)?.contains("schema") == true)
        #expect(
            reason(
                #"{"schema": "charter.run-results/1", "metrics": [{"name": "m", "better": "higher"}], "arms": {"ccai": {"metrics": {"m": 1}}}}"#
            )?.contains("no baseline arm") == true)
        #expect(
            reason(
                String(
                    decoding: Self.results(ccai: 1, baseline: 1, better: "higher", dropBaselineValue: true),
                    as: UTF8.self))?
                .contains("no value for the metric m") == true)
        #expect(
            reason(
                #"{"schema": "charter.run-results/1", "metrics": [{"name": "m", "better": "sideways"}], "arms": {}}"#)
                != nil)
    }
}

/// The orchestration against real subprocesses: stand-in pipelines from `Fixtures/` play each
/// way a pipeline can end. Nothing here waits on the clock; each test awaits the run's end.
@Suite struct RunOrchestrationTests {
    struct Setup {
        let database: TemporaryDatabase
        let store: SQLiteStore
        let service: RunService
        let constitutionID: Int64
        let runs: URL

        init(pipeline: String, timeout: Duration = .seconds(120), grace: Duration = .seconds(2)) async throws {
            database = try TemporaryDatabase()
            store = try database.open()
            runs = database.folder.appendingPathComponent("runs")
            service = RunService(
                store: store,
                configuration: Fixtures.runConfiguration(
                    pipeline: pipeline, runsDirectory: runs, timeout: timeout, grace: grace),
                logger: Logger(label: "test"))
            let conversation = try await store.createConversation(
                ConversationSettings(slug: "town", title: "Town", question: "?"), by: .system)
            constitutionID = try await Fixtures.publishConstitution(in: store, conversationID: conversation.id)
        }

        func queue() async throws -> ComparisonRun {
            try await service.enqueue(
                constitutionID: constitutionID, baseline: .charter, profile: .smoke, seed: 7,
                parameters: ["prompts": .number(6)], by: .system)
        }

        func execute() async throws -> ComparisonRun {
            let run = try await queue()
            return try #require(try await service.executeNow(id: run.id, onEvent: nil))
        }
    }

    @Test func aSuccessfulRunRecordsResultsProgressManifestAndLogs() async throws {
        let setup = try await Setup(pipeline: "ok-pipeline")
        let run = try await setup.execute()
        #expect(run.state == .succeeded)
        #expect(run.failure == nil)
        #expect(run.pipelineVersion == "stand-in 1")
        let results = try RunResults.parse(try #require(run.results))
        #expect(results.comparison.count == 3)
        let progress = try RunProgress.decode(try #require(run.progress))
        #expect(progress.stages.count == 11)
        #expect(progress.stages.allSatisfy { $0.step == $0.of })
        #expect(progress.series.count == 4)

        let workspace = RunWorkspace(directory: URL(fileURLWithPath: try #require(run.directory)))
        let manifest = try RunManifest.decode(try Data(contentsOf: workspace.manifest))
        #expect(manifest.schema == "charter.run-manifest/1")
        #expect(manifest.runID == String(run.id))
        #expect(manifest.seed == 7)
        #expect(manifest.parameters == ["prompts": .number(6)])
        #expect(manifest.arms.map(\.name) == ["ccai", "baseline"])
        #expect(manifest.arms[0].constitution.sha256 == run.ccaiSHA256)
        #expect(manifest.arms[1].constitution.sha256 == run.request.baselineSHA256)
        // The baseline the run recorded is Charter's own, byte for byte what the arm was given.
        let baselineFile = try #require(manifest.arms[1].constitution.files["json"])
        let written = try Constitution.decode(try Data(contentsOf: URL(fileURLWithPath: baselineFile)))
        #expect(try written.hashed().sha256 == run.request.baselineSHA256)
        #expect(written.principles.count == 40)
        for arm in manifest.arms {
            #expect(Set(arm.constitution.files.keys) == ["json", "cai", "txt"])
        }
        // The manifest's JSON keys are the contract's.
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: workspace.manifest)) as? [String: Any])
        #expect(
            Set(object.keys)
                == [
                    "schema", "run_id", "created_at", "profile", "seed", "parameters", "prompts_path", "bbq_dir",
                    "output_dir", "arms", "charter",
                ].filter { object[$0] != nil }.reduce(into: Set<String>()) { $0.insert($1) })
        #expect(object["output_dir"] as? String == workspace.output.path)

        #expect(workspace.tail("stdout.log").contains("plain output that is not an event") == false)
        let stdout = try String(contentsOf: workspace.directory.appendingPathComponent("stdout.log"), encoding: .utf8)
        #expect(stdout.contains("plain output that is not an event"))
        #expect(workspace.artefacts().map(\.path).contains("output/results.json"))
        #expect(workspace.artefacts().map(\.path).contains("output/ccai/sl.jsonl"))
    }

    @Test func aCrashFailsTheRunWithTheExitStatusAndTheLastErrorLine() async throws {
        let setup = try await Setup(pipeline: "crash-pipeline")
        let run = try await setup.execute()
        #expect(run.state == .failed)
        #expect(run.failure == "the pipeline exited with status 3: ValueError: unknown parameter 'bogus'")
        #expect(run.finishedAt != nil)
        // What it reported before it crashed is kept.
        let progress = try RunProgress.decode(try #require(run.progress))
        #expect(progress.stages.first?.stage == "sl")
    }

    @Test func aHangPastTheTimeoutIsStoppedWithEverythingItStarted() async throws {
        let setup = try await Setup(pipeline: "hang-pipeline", timeout: .seconds(1), grace: .seconds(1))
        let run = try await setup.execute()
        #expect(run.state == .failed)
        #expect(run.failure?.hasPrefix("timed out after 1 s") == true)
        let directory = try #require(run.directory)
        let child = try #require(
            Int32(
                try String(contentsOfFile: directory + "/child.pid", encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)))
        // The pipeline's own child was in its process group, so it is gone too.
        #expect(!ProcessTable.isRunning(child))
    }

    @Test(arguments: [
        ("malformed-pipeline", "the pipeline's results.json is malformed: it has no baseline arm"),
        ("silent-pipeline", "the pipeline exited normally but wrote no output/results.json"),
    ])
    func exitingCleanlyWithoutUsableResultsFails(pipeline: String, reason: String) async throws {
        let setup = try await Setup(pipeline: pipeline)
        let run = try await setup.execute()
        #expect(run.state == .failed)
        #expect(run.failure == reason)
        #expect(run.results == nil)
    }

    @Test(arguments: ["hang-pipeline", "stubborn-pipeline"])
    func cancelStopsTheProcessGroup(pipeline: String) async throws {
        let setup = try await Setup(pipeline: pipeline, grace: .milliseconds(500))
        let queued = try await setup.queue()
        let service = setup.service
        let execution = Task { try await service.executeNow(id: queued.id, onEvent: nil) }
        // Cancel once the pipeline is up: its first progress event has been recorded.
        let started = try await Self.until { () async throws -> Bool in
            let run = try await setup.store.run(id: queued.id)
            return run?.pipelinePID != nil && run?.progress != nil
        }
        #expect(started)
        let pipelinePID = try #require(try await setup.store.run(id: queued.id)?.pipelinePID)
        let cancelled = try await service.cancel(id: queued.id, by: Actor(organiserID: nil, name: "researcher"))
        #expect(cancelled.state == .cancelled)
        #expect(cancelled.failure == "cancelled by researcher")
        _ = try await execution.value
        #expect(ProcessTable.members(ofGroup: pipelinePID).isEmpty)
        // Cancelling again is a conflict, not a crash.
        await #expect(throws: CharterError.self) {
            _ = try await service.cancel(id: queued.id, by: .system)
        }
    }

    @Test func aQueuedRunIsCancelledWithoutStarting() async throws {
        let setup = try await Setup(pipeline: "ok-pipeline")
        let queued = try await setup.queue()
        let cancelled = try await setup.service.cancel(id: queued.id, by: .system)
        #expect(cancelled.state == .cancelled)
        #expect(cancelled.startedAt == nil)
        #expect(try await setup.service.executeNow(id: queued.id, onEvent: nil) == nil)
    }

    @Test func retryRepeatsTheRunWithTheSameInputs() async throws {
        let setup = try await Setup(pipeline: "crash-pipeline")
        let failed = try await setup.execute()
        let again = try await setup.service.retry(id: failed.id, by: .system)
        #expect(again.id != failed.id)
        #expect(again.state == .queued)
        #expect(again.request.retryOf == failed.id)
        #expect(again.request.seed == failed.request.seed)
        #expect(again.request.baselineBody == failed.request.baselineBody)
        #expect(again.request.parameters == failed.request.parameters)
        #expect(again.ccaiSHA256 == failed.ccaiSHA256)
        let queued = try await setup.queue()
        await #expect(throws: CharterError.self) { _ = try await setup.service.retry(id: queued.id, by: .system) }
    }

    @Test func aRestartFailsOrphanedRunsAndKillsTheirPipelines() async throws {
        let setup = try await Setup(pipeline: "ok-pipeline")
        // An orphan: its server is gone, its pipeline still runs in the run folder.
        let orphan = try await setup.queue()
        let folder = setup.runs.appendingPathComponent(String(orphan.id))
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let leftover = Process()
        leftover.executableURL = URL(fileURLWithPath: "/bin/sleep")
        leftover.arguments = ["1000"]
        leftover.currentDirectoryURL = folder
        try leftover.run()
        _ = try await setup.store.updateRun(
            id: orphan.id, expecting: [.queued],
            RunChange(
                state: .running, startedAt: Date(), directory: folder.path, ownerPID: Int32.max - 1,
                pipelinePID: leftover.processIdentifier), by: nil)
        // Another live process's run: left alone.
        let other = try await setup.queue()
        _ = try await setup.store.updateRun(
            id: other.id, expecting: [.queued], RunChange(state: .running, startedAt: Date(), ownerPID: getppid()),
            by: nil)

        try await setup.service.recoverInterrupted()
        let failed = try #require(try await setup.store.run(id: orphan.id))
        #expect(failed.state == .failed)
        #expect(failed.failure?.hasPrefix("interrupted by restart") == true)
        leftover.waitUntilExit()
        #expect(leftover.terminationReason == .uncaughtSignal)
        #expect(try await setup.store.run(id: other.id)?.state == .running)
    }

    @Test func anotherServersRunIsTakenOverOnlyOnceItsLeaseRunsOut() async throws {
        let setup = try await Setup(pipeline: "ok-pipeline")
        let folder = setup.runs.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // Held by a server on another machine whose lease is still good: left alone, even
        // though its pid means nothing here.
        let held = try await setup.queue()
        _ = try await setup.store.updateRun(
            id: held.id, expecting: [.queued],
            RunChange(
                state: .running, startedAt: Date(), directory: folder.path, ownerPID: Int32.max - 1,
                owner: "another-host:4242:beef", leaseExpiresAt: Date().addingTimeInterval(60)), by: nil)
        // Its lease ran out: the server is gone; the run is taken over and, with no pipeline to
        // follow, failed.
        let lapsed = try await setup.queue()
        _ = try await setup.store.updateRun(
            id: lapsed.id, expecting: [.queued],
            RunChange(
                state: .running, startedAt: Date(), directory: folder.path, ownerPID: Int32.max - 1,
                owner: "another-host:4243:cafe", leaseExpiresAt: Date().addingTimeInterval(-1)), by: nil)
        // Its folder is not on this server: the runs folder is not shared.
        let unseen = try await setup.queue()
        _ = try await setup.store.updateRun(
            id: unseen.id, expecting: [.queued],
            RunChange(
                state: .running, startedAt: Date(), directory: "/nonexistent/runs/\(unseen.id)",
                ownerPID: Int32.max - 1, owner: "another-host:4244:f00d",
                leaseExpiresAt: Date().addingTimeInterval(-1)), by: nil)

        try await setup.service.recoverInterrupted()
        let stillHeld = try #require(try await setup.store.run(id: held.id))
        #expect(stillHeld.state == .running && stillHeld.owner == "another-host:4242:beef")
        let failed = try #require(try await setup.store.run(id: lapsed.id))
        #expect(failed.state == .failed)
        #expect(failed.owner == setup.service.serverID)
        let notShared = try #require(try await setup.store.run(id: unseen.id))
        #expect(notShared.state == .failed)
        #expect(notShared.failure?.contains("share the runs folder") == true)
    }

    @Test func aServingServerRenewsTheLeasesOfItsRuns() async throws {
        let setup = try await Setup(pipeline: "gated-pipeline")
        var configuration = Fixtures.runConfiguration(
            pipeline: "gated-pipeline", runsDirectory: setup.runs, timeout: .seconds(120), grace: .seconds(2))
        configuration.lease = .seconds(3)
        configuration.pollInterval = .milliseconds(100)
        let service = RunService(store: setup.store, configuration: configuration, logger: Logger(label: "test"))
        let run = try await setup.queue()
        let serving = Task { try await service.run() }
        let started = try await Self.until { try await setup.store.run(id: run.id)?.leaseExpiresAt != nil }
        #expect(started)
        let first = try #require(try await setup.store.run(id: run.id))
        #expect(first.owner == service.serverID && first.state == .running)
        let firstLease = try #require(first.leaseExpiresAt)
        // Renewed every second (a third of the lease) while the pipeline waits at its gate.
        let renewed = try await Self.until {
            (try await setup.store.run(id: run.id)?.leaseExpiresAt ?? .distantPast) > firstLease
        }
        #expect(renewed)
        let folder = setup.runs.appendingPathComponent(String(run.id))
        _ = FileManager.default.createFile(atPath: folder.appendingPathComponent("release").path, contents: Data())
        let finished = try await Self.until(seconds: 60) { try await setup.store.run(id: run.id)?.state == .succeeded }
        #expect(finished)
        serving.cancel()
        _ = try? await serving.value
    }

    @Test func theServiceRunsTheQueueOneAtATimeByDefault() async throws {
        let setup = try await Setup(pipeline: "ok-pipeline")
        let first = try await setup.queue()
        let second = try await setup.queue()
        let service = setup.service
        let serving = Task { try await service.run() }
        let done = try await Self.until(seconds: 60) { () async throws -> Bool in
            try await setup.store.runs(in: [.succeeded]).count == 2
        }
        serving.cancel()
        #expect(done)
        let a = try #require(try await setup.store.run(id: first.id))
        let b = try #require(try await setup.store.run(id: second.id))
        #expect(try #require(b.startedAt) >= (try #require(a.finishedAt)))
    }

    @Test func badRequestsAreRefusedBeforeAnythingIsQueued() async throws {
        let setup = try await Setup(pipeline: "ok-pipeline")
        await #expect(throws: CharterError.notFound("Constitution")) {
            _ = try await setup.service.enqueue(
                constitutionID: 999, baseline: .charter, profile: .smoke, seed: nil, parameters: [:], by: .system)
        }
        for (baseline, parameters) in [
            (BaselineChoice.uploaded(Data("{}".utf8), name: "x.json"), [String: RunParameter]()),
            (
                .uploaded(
                    Data(
                        #"{"format":"charter.constitution/v1","name":"x","version":1,"kind":"baseline","description":"","principles":[]}"#
                            .utf8), name: "x.json"), [:]
            ),
            (.constitution(12345), [:]),
            (.charter, ["bad name!": .number(1)]),
            (.charter, ["x": .string(String(repeating: "a", count: 2000))]),
        ] {
            await #expect(throws: CharterError.self) {
                _ = try await setup.service.enqueue(
                    constitutionID: setup.constitutionID, baseline: baseline, profile: .smoke, seed: nil,
                    parameters: parameters, by: .system)
            }
        }
        // A collective constitution with no principles has nothing to train on.
        let empty = try await setup.store.publishConstitution(conversationID: 1, by: .system) { version in
            let constitution = try Constitution(
                name: "Empty", version: version, kind: "collective", description: "", principles: []
            ).hashed()
            return (try constitution.rendered(.json), constitution.sha256 ?? "")
        }
        await #expect(throws: CharterError.self) {
            _ = try await setup.service.enqueue(
                constitutionID: empty.id, baseline: .charter, profile: .smoke, seed: nil, parameters: [:], by: .system)
        }
        #expect(try await setup.store.runs(offset: 0, limit: 10).total == 0)
    }

    /// Waits for a condition the system under test reaches on its own, checking every 50 ms, up
    /// to a deadline that only a broken build reaches.
    static func until(seconds: Double = 30, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}

/// What /proc says about processes. A killed process stays a zombie until its parent reaps it,
/// and `kill(pid, 0)` still finds a zombie, so "gone" here means absent or a zombie.
enum ProcessTable {
    static func state(_ pid: Int32) -> (state: Character, group: Int32)? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        guard fields.count > 2, let state = fields[0].first, let group = Int32(fields[2]) else { return nil }
        return (state, group)
    }

    static func isRunning(_ pid: Int32) -> Bool {
        guard let state = state(pid) else { return false }
        return state.state != "Z" && state.state != "X"
    }

    static func members(ofGroup group: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let state = state(pid) else { return false }
            return state.group == group && state.state != "Z" && state.state != "X"
        }
    }
}
