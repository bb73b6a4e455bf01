import CharterDomain
import CharterPipeline
import CharterSQLite
import CharterStore
import CharterTestSupport
import Foundation
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What Slurm's tools print, parsed; the job script, written and run by bash. No cluster.
@Suite struct SlurmParsingTests {
    // Captured from `scontrol show job --oneliner` on Debian's slurm-wlm 22.05 (shortened).
    static let failed =
        "JobId=1 JobName=t1 UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901759 Nice=0 Account=(null) QOS=(null) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=4:0 RunTime=00:00:03 TimeLimit=UNLIMITED Partition=debug AllocNode:Sid=localhost:19271 NodeList=vm NtasksPerN:B:S:C=0:0:*:* TRES=cpu=1,node=1,billing=1 Command=/tmp/jt/job.sh WorkDir=/tmp StdErr=/tmp/jt/out.log StdIn=/dev/null StdOut=/tmp/jt/out.log Power= "
    static let pending =
        "JobId=5 JobName=sleep.sh UserId=root(0) GroupId=root(0) JobState=PENDING Reason=Resources Dependency=(null) ExitCode=0:0 NodeList= TRES=cpu=2,mem=19284M,node=1,billing=2 Command=/tmp/jt/sleep.sh WorkDir=/work/main StdErr=/dev/null StdIn=/dev/null StdOut=/dev/null Power= "
    static let completedWithSpaces =
        "JobId=3 JobName=charter-run-7 UserId=root(0) JobState=COMPLETED Reason=None ExitCode=0:0 Command=/tmp/my runs/7/slurm-job.sh WorkDir=/tmp/my runs/7 StdErr=/tmp/my runs/7/stderr.log StdIn=/dev/null StdOut=/tmp/my runs/7/stdout.log Power= "

    @Test func scontrolOneLinersBecomeJobs() throws {
        let jobs = SlurmParsing.jobs(
            fromScontrol: [Self.failed, Self.pending, Self.completedWithSpaces].joined(separator: "\n"))
        #expect(jobs.map(\.id) == [1, 5, 3])
        let failed = try #require(jobs.first)
        #expect(failed.state == SlurmJobState(rawValue: "FAILED"))
        #expect(failed.exitStatus == 4 && failed.exitSignal == 0)
        #expect(failed.reason == "NonZeroExitCode")
        #expect(failed.workDirectory == "/tmp")
        #expect(failed.exit == .exited(4))
        let pending = try #require(jobs.dropFirst().first)
        #expect(pending.state.rawValue == "PENDING")
        #expect(pending.reason == "Resources")
        #expect(pending.exit == nil)
        let completed = try #require(jobs.last)
        #expect(completed.name == "charter-run-7")
        #expect(completed.workDirectory == "/tmp/my runs/7")
        #expect(completed.stdoutPath == "/tmp/my runs/7/stdout.log")
        #expect(completed.exit == .exited(0))
        #expect(SlurmParsing.jobs(fromScontrol: "").isEmpty)
        #expect(SlurmParsing.jobs(fromScontrol: "No jobs in the system").isEmpty)
        #expect(SlurmParsing.jobs(fromScontrol: "JobId=x JobState=RUNNING").isEmpty)
        #expect(SlurmParsing.jobs(fromScontrol: "JobId=9 JobState=").isEmpty)
    }

    @Test(arguments: [
        ("COMPLETED", "0:0", RunExit.exited(0)),
        ("FAILED", "3:0", .exited(3)),
        ("FAILED", "0:9", .signalled(9)),
        ("CANCELLED", "0:15", .cancelled),
        ("TIMEOUT", "0:0", .timedOut),
        ("DEADLINE", "0:0", .timedOut),
        ("OUT_OF_MEMORY", "0:125", .failed("the Slurm job ran out of memory (OUT_OF_MEMORY)")),
        ("NODE_FAIL", "0:0", .failed("the Slurm job ended as NODE_FAIL (NodeDown)")),
    ])
    func finalStatesMapToRunExits(state: String, exitCode: String, expected: RunExit) throws {
        let line = "JobId=12 JobName=charter-run-1 JobState=\(state) Reason=NodeDown ExitCode=\(exitCode) WorkDir=/r"
        let job = try #require(SlurmParsing.jobs(fromScontrol: line).first)
        #expect(job.state.isFinal)
        let exit = job.exit
        #expect(exit == expected)
    }

    @Test(arguments: ["PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED", "REQUEUED"])
    func activeStatesHaveNoExitYet(state: String) throws {
        let job = try #require(SlurmParsing.jobs(fromScontrol: "JobId=2 JobState=\(state) ExitCode=0:0").first)
        #expect(!job.state.isFinal)
        #expect(job.exit == nil)
    }

    @Test func squeueLinesSbatchIDsAndUnknownJobs() {
        let queue = SlurmParsing.queue(fromSqueue: "5|PENDING|Resources\n4|RUNNING|None\n\nnot a line\n|RUNNING|x\n")
        #expect(
            queue == [
                SlurmQueueEntry(id: 5, state: SlurmJobState(rawValue: "PENDING"), reason: "Resources"),
                SlurmQueueEntry(id: 4, state: SlurmJobState(rawValue: "RUNNING"), reason: "None"),
            ])
        #expect(SlurmParsing.jobID(fromParsable: "42\n") == 42)
        #expect(SlurmParsing.jobID(fromParsable: "42;cluster\n") == 42)
        #expect(SlurmParsing.jobID(fromParsable: "") == nil)
        #expect(SlurmParsing.jobID(fromParsable: "sbatch: error: Batch job submission failed") == nil)
        #expect(SlurmParsing.jobID(fromParsable: "-3") == nil)
        #expect(SlurmParsing.jobID(fromFile: " 17\n") == 17)
        #expect(SlurmParsing.jobID(fromFile: "99999999999999999999999") == nil)
        #expect(SlurmParsing.isUnknownJob("slurm_load_jobs error: Invalid job id specified"))
        #expect(!SlurmParsing.isUnknownJob("slurm_load_jobs error: Unable to contact slurm controller"))
    }

    @Test func outputTailHandsBackCompleteLinesOnly() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tail-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("stdout.log")
        var tail = OutputTail(file: file)
        #expect(tail.read().isEmpty)  // not there yet
        try Data("one\ntw".utf8).write(to: file)
        #expect(tail.read() == ["one"])
        let handle = try FileHandle(forWritingTo: file)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("o\n\nthree".utf8))
        try handle.close()
        #expect(tail.read() == ["two", ""])
        #expect(tail.read().isEmpty)
        #expect(tail.finish() == ["three"])
        #expect(tail.finish().isEmpty)
        // Small reads split nothing that a large one would not.
        var small = OutputTail(file: file)
        #expect(small.read(maxBytes: 3) == ["one", "two", ""])
    }

    static func job(in folder: URL, command: [String], environment: [String: String] = [:]) -> RunJob {
        RunJob(
            runID: 7, command: command, directory: folder, manifest: folder.appendingPathComponent("manifest.json"),
            timeout: .seconds(90), environment: environment)
    }

    @Test func theJobScriptCarriesTheOptionsTheEnvironmentAndTheCommand() throws {
        let folder = URL(fileURLWithPath: "/tmp/runs/7")
        let settings = SlurmExecutor.Settings(
            partition: "gpu", gres: "gpu:1", time: nil, extraArguments: ["--mem=16G", "--account=lab"])
        let script = try SlurmExecutor.script(
            for: Self.job(in: folder, command: ["/opt/it's/run", "train"], environment: ["HF_HOME": "/data/hf $x"]),
            settings: settings)
        let lines = script.split(separator: "\n").map(String.init)
        #expect(lines.first == "#!/bin/bash")
        #expect(
            lines.filter { $0.hasPrefix("#SBATCH ") } == [
                "#SBATCH --job-name=charter-run-7", "#SBATCH --chdir=/tmp/runs/7",
                "#SBATCH --output=/tmp/runs/7/stdout.log", "#SBATCH --error=/tmp/runs/7/stderr.log",
                // The profile's 90 s, rounded up to whole minutes.
                "#SBATCH --time=2", "#SBATCH --partition=gpu", "#SBATCH --gres=gpu:1", "#SBATCH --mem=16G",
                "#SBATCH --account=lab",
            ])
        #expect(lines.contains("cd '/tmp/runs/7' || exit 1"))
        #expect(lines.contains("export HF_HOME='/data/hf $x'"))
        #expect(lines.contains("'/opt/it'\\''s/run' 'train' '--manifest' '/tmp/runs/7/manifest.json' </dev/null"))
        let timed = try SlurmExecutor.script(
            for: Self.job(in: folder, command: ["run"]), settings: .init(time: "3-00:00:00"))
        #expect(timed.contains("#SBATCH --time=3-00:00:00\n"))
        #expect(!timed.contains("--partition"))

        #expect(throws: SlurmExecutor.InvalidSetting.self) {
            _ = try SlurmExecutor.script(
                for: Self.job(in: folder, command: ["run"]), settings: .init(extraArguments: ["--mem=1G\nrm -rf /"]))
        }
        #expect(throws: SlurmExecutor.InvalidSetting.self) {
            _ = try SlurmExecutor.script(
                for: Self.job(in: folder, command: ["run"], environment: ["A B": "x"]), settings: .init())
        }
        #expect(throws: SlurmExecutor.InvalidSetting.self) {
            _ = try SlurmExecutor.script(for: Self.job(in: folder, command: []), settings: .init())
        }
    }

    /// The script run by bash itself (its `#SBATCH` lines are comments): it runs the command in
    /// the run folder with the job's environment, keeps the exit status, and ends by the same
    /// signal as a pipeline that was killed.
    @Test func theJobScriptKeepsTheExitStatusAndTheSignal() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("script-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func run(_ shell: String) throws -> Process {
            let script = folder.appendingPathComponent("job.sh")
            let text = try SlurmExecutor.script(
                for: Self.job(
                    in: folder, command: ["/bin/sh", "-c", shell, "pipeline"], environment: ["WHO": "it's me"]),
                settings: .init())
            try text.write(to: script, atomically: true, encoding: .utf8)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = [script.path]
            process.currentDirectoryURL = URL(fileURLWithPath: "/")
            try process.run()
            process.waitUntilExit()
            return process
        }
        let exited = try run(#"echo "$WHO $(pwd) $1 $2" > seen; exit 3"#)
        #expect(exited.terminationReason == .exit && exited.terminationStatus == 3)
        let seen = try String(contentsOf: folder.appendingPathComponent("seen"), encoding: .utf8)
        #expect(seen == "it's me \(folder.path) --manifest \(folder.path)/manifest.json\n")
        #expect(try String(contentsOf: folder.appendingPathComponent("slurm-exit-status"), encoding: .utf8) == "3\n")
        let killed = try run("kill -KILL $$")
        #expect(killed.terminationReason == .uncaughtSignal && killed.terminationStatus == SIGKILL)
        #expect(try String(contentsOf: folder.appendingPathComponent("slurm-exit-status"), encoding: .utf8) == "137\n")
    }
}

/// The executor against a real single-node Slurm (`scripts/slurm/cluster`, started once for
/// the suite): stand-in pipelines from `Fixtures/` run as batch jobs. Skipped where Slurm
/// cannot be installed. Waits poll against deadlines; nothing sleeps for a fixed time.
@Suite(.serialized, .slurmCluster) struct SlurmExecutorTests {
    static func settings(_ cluster: SlurmTestCluster.Running) -> SlurmExecutor.Settings {
        SlurmExecutor.Settings(pollInterval: .milliseconds(100), cancelWait: .seconds(60), commands: cluster.commands)
    }

    struct Setup {
        let database: TemporaryDatabase
        let store: SQLiteStore
        let service: RunService
        let constitutionID: Int64
        let runs: URL
        let configuration: RunConfiguration

        init(pipeline: String, cluster: SlurmTestCluster.Running) async throws {
            database = try TemporaryDatabase()
            store = try database.open()
            runs = database.folder.appendingPathComponent("runs")
            configuration = Fixtures.runConfiguration(pipeline: pipeline, runsDirectory: runs)
            service = Self.service(store: store, configuration: configuration, cluster: cluster)
            let conversation = try await store.createConversation(
                ConversationSettings(slug: "town", title: "Town", question: "?"), by: .system)
            constitutionID = try await Fixtures.publishConstitution(in: store, conversationID: conversation.id)
        }

        /// A run service of its own, as a server (re)started would have.
        static func service(
            store: SQLiteStore, configuration: RunConfiguration, cluster: SlurmTestCluster.Running
        ) -> RunService {
            RunService(
                store: store, configuration: configuration,
                executor: SlurmExecutor(settings: SlurmExecutorTests.settings(cluster)), logger: Logger(label: "test"))
        }

        func queue() async throws -> ComparisonRun {
            try await service.enqueue(
                constitutionID: constitutionID, baseline: .charter, profile: .smoke, seed: 7,
                parameters: ["prompts": .number(6)], by: .system)
        }
    }

    /// Collects what an executor reports.
    final class Seen: Sendable {
        let events = Mutex<[PipelineEvent]>([])
        let started = Mutex<[Int32]>([])

        var all: [PipelineEvent] { events.withLock { $0 } }
        func add(_ event: PipelineEvent) { events.withLock { $0.append(event) } }
    }

    @Test(.timeLimit(.minutes(3))) func aStandInPipelineRunsAsASlurmJob() async throws {
        try await SlurmTestCluster.shared.use { cluster in
            let setup = try await Setup(pipeline: "ok-pipeline", cluster: cluster)
            let queued = try await setup.queue()
            let seen = Seen()
            let run = try #require(try await setup.service.executeNow(id: queued.id) { seen.add($0) })
            #expect(run.state == .succeeded, "\(run.failure ?? "")")
            #expect(run.pipelineVersion == "stand-in 1")
            let results = try RunResults.parse(try #require(run.results))
            #expect(results.comparison.count == 3)
            let progress = try RunProgress.decode(try #require(run.progress))
            #expect(progress.stages.count == 11)
            #expect(progress.stages.allSatisfy { $0.step == $0.of })
            #expect(progress.series.count == 4)
            // Every event the pipeline printed was seen, in order, after Slurm's own notes.
            let events = seen.all
            #expect(events.contains(.log("stand-in pipeline starting")))
            #expect(events.last == .done(results: "results.json"))
            #expect(events.filter { if case .progress = $0 { true } else { false } }.count == 31)

            let folder = URL(fileURLWithPath: try #require(run.directory))
            let id = try #require(SlurmExecutor.jobID(inRunFolder: folder))
            #expect(run.pipelinePID == Int32(id))
            #expect(events.first == .log("submitted to Slurm as job \(id)"))
            let job = try #require(try await cluster.commands.job(id))
            #expect(job.state.rawValue == "COMPLETED")
            #expect(job.name == "charter-run-\(run.id)")
            let script = try String(contentsOf: folder.appendingPathComponent("slurm-job.sh"), encoding: .utf8)
            #expect(script.contains("#SBATCH --job-name=charter-run-\(run.id)"))
            let stdout = try String(contentsOf: folder.appendingPathComponent("stdout.log"), encoding: .utf8)
            #expect(stdout.contains("plain output that is not an event"))
        }
    }

    @Test(.timeLimit(.minutes(3))) func aFailingJobEndsWithItsExitStatusAndLastErrorLine() async throws {
        try await SlurmTestCluster.shared.use { cluster in
            let setup = try await Setup(pipeline: "crash-pipeline", cluster: cluster)
            let queued = try await setup.queue()
            let run = try #require(try await setup.service.executeNow(id: queued.id, onEvent: nil))
            #expect(run.state == .failed)
            #expect(run.failure == "the pipeline exited with status 3: ValueError: unknown parameter 'bogus'")
            let progress = try RunProgress.decode(try #require(run.progress))
            #expect(progress.stages.first?.stage == "sl")
            let folder = URL(fileURLWithPath: try #require(run.directory))
            let id = try #require(SlurmExecutor.jobID(inRunFolder: folder))
            let job = try #require(try await cluster.commands.job(id))
            #expect(job.state.rawValue == "FAILED")
            #expect(job.exitStatus == 3)
        }
    }

    @Test(.timeLimit(.minutes(3))) func aCancelReachesScancelAndTheJobLeavesTheQueue() async throws {
        try await SlurmTestCluster.shared.use { cluster in
            let setup = try await Setup(pipeline: "hang-pipeline", cluster: cluster)
            let queued = try await setup.queue()
            let service = setup.service
            let execution = Task { try await service.executeNow(id: queued.id, onEvent: nil) }
            // Cancel once the job runs: the pipeline's first progress event has been recorded.
            let running = try await RunOrchestrationTests.until(seconds: 60) { () async throws -> Bool in
                guard let run = try await setup.store.run(id: queued.id), run.pipelinePID != nil,
                    let progress = run.progress
                else { return false }
                return try RunProgress.decode(progress).stages.isEmpty == false
            }
            #expect(running)
            let run = try #require(try await setup.store.run(id: queued.id))
            let folder = URL(fileURLWithPath: try #require(run.directory))
            let id = try #require(SlurmExecutor.jobID(inRunFolder: folder))
            #expect(try await cluster.commands.isQueued(id))
            let child = try #require(
                Int32(
                    try String(contentsOf: folder.appendingPathComponent("child.pid"), encoding: .utf8)
                        .trimmingCharacters(in: .whitespacesAndNewlines)))

            let cancelled = try await service.cancel(id: queued.id, by: Actor(organiserID: nil, name: "researcher"))
            #expect(cancelled.state == .cancelled)
            #expect(cancelled.failure == "cancelled by researcher")
            _ = try await execution.value
            // The executor waited for the job to leave; Slurm says it was cancelled.
            let left = try await RunOrchestrationTests.until(seconds: 30) { () async throws -> Bool in
                try await !cluster.commands.isQueued(id)
            }
            #expect(left)
            let job = try #require(try await cluster.commands.job(id))
            #expect(job.state.rawValue == "CANCELLED")
            // The pipeline's own child went with the job.
            let childGone = try await RunOrchestrationTests.until(seconds: 30) { !ProcessTable.isRunning(child) }
            #expect(childGone)
        }
    }

    /// An executor lets go of a job (as a server shutting down does) and a new executor, as a
    /// restarted server has, follows it again by the run folder's job id file.
    @Test(.timeLimit(.minutes(3))) func aNewExecutorFollowsARunningJobByItsIDFile() async throws {
        try await SlurmTestCluster.shared.use { cluster in
            let database = try TemporaryDatabase()
            let folder = database.folder.appendingPathComponent("runs/41")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let pipeline = folder.appendingPathComponent("stand-in")
            try """
            #!/bin/sh
            echo '{"event":"progress","stage":"wait","step":1,"of":2}'
            while [ ! -e release ]; do sleep 0.1; done
            echo '{"event":"progress","stage":"wait","step":2,"of":2}'
            printf '{"event":"done"}'
            exit 5
            """.write(to: pipeline, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: pipeline.path)
            let job = RunJob(
                runID: 41, command: [pipeline.path], directory: folder,
                manifest: folder.appendingPathComponent("manifest.json"), timeout: .seconds(600))

            let first = SlurmExecutor(settings: Self.settings(cluster))
            let seenFirst = Seen()
            let following = Task {
                try await first.execute(job, started: { _ in }, event: { seenFirst.add($0) })
            }
            let waiting = try await RunOrchestrationTests.until(seconds: 60) {
                seenFirst.all.contains(.progress(arm: nil, stage: "wait", step: 1, of: 2))
            }
            #expect(waiting)
            job.control.detach()
            following.cancel()
            let firstExit = try await following.value
            #expect(firstExit == .detached)
            let id = try #require(SlurmExecutor.jobID(inRunFolder: folder))
            #expect(try await cluster.commands.isQueued(id))

            let second = SlurmExecutor(settings: Self.settings(cluster))
            let seenSecond = Seen()
            let resumed = Task {
                try await second.resume(
                    job, started: { id in seenSecond.started.withLock { $0.append(id) } },
                    event: { seenSecond.add($0) })
            }
            // The events printed before the restart are replayed.
            let replayed = try await RunOrchestrationTests.until(seconds: 30) {
                seenSecond.all.contains(.progress(arm: nil, stage: "wait", step: 1, of: 2))
            }
            #expect(replayed)
            try Data().write(to: folder.appendingPathComponent("release"))
            let exit = try await resumed.value
            #expect(exit == .exited(5))
            let events = seenSecond.all
            #expect(events.contains(.progress(arm: nil, stage: "wait", step: 2, of: 2)))
            // The last line, with no newline after it, is read too.
            #expect(events.last == .done(results: nil))
            #expect(seenSecond.started.withLock { $0 } == [Int32(id)])

            // A folder without a job id file, or whose job is another run's, has nothing to follow.
            let other = RunJob(
                runID: 42, command: [pipeline.path], directory: folder,
                manifest: folder.appendingPathComponent("manifest.json"), timeout: .seconds(600))
            let notThisRun = try await second.resume(other, started: { _ in }, event: { _ in })
            #expect(notThisRun == nil)
            let empty = database.folder.appendingPathComponent("runs/43")
            try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
            let nothing = try await second.resume(
                RunJob(
                    runID: 43, command: ["x"], directory: empty, manifest: empty.appendingPathComponent("m"),
                    timeout: .seconds(1)), started: { _ in }, event: { _ in })
            #expect(nothing == nil)
        }
    }

    /// The run service end to end: a server that shuts down leaves its Slurm run running, and
    /// the next server's restart recovery follows it to its end instead of failing it.
    @Test(.timeLimit(.minutes(3))) func aRestartedServerFollowsItsSlurmRunToTheEnd() async throws {
        try await SlurmTestCluster.shared.use { cluster in
            let setup = try await Setup(pipeline: "gated-pipeline", cluster: cluster)
            let queued = try await setup.queue()
            let service = setup.service
            let execution = Task { try await service.executeNow(id: queued.id, onEvent: nil) }
            let waiting = try await RunOrchestrationTests.until(seconds: 60) { () async throws -> Bool in
                guard let progress = try await setup.store.run(id: queued.id)?.progress else { return false }
                return try RunProgress.decode(progress).stages.contains { $0.stage == "gate" }
            }
            #expect(waiting)
            // The server shuts down: it lets go of the job, and the run stays running.
            await service.stopAll(reason: "interrupted: the server shut down", detaching: true)
            _ = try await execution.value
            let left = try #require(try await setup.store.run(id: queued.id))
            #expect(left.state == .running)
            let folder = URL(fileURLWithPath: try #require(left.directory))
            let id = try #require(SlurmExecutor.jobID(inRunFolder: folder))
            #expect(try await cluster.commands.isQueued(id))

            // The next server.
            let restarted = Setup.service(store: setup.store, configuration: setup.configuration, cluster: cluster)
            try await restarted.recoverInterrupted()
            #expect(try await setup.store.run(id: queued.id)?.state == .running)
            try Data().write(to: folder.appendingPathComponent("release"))
            let done = try await RunOrchestrationTests.until(seconds: 90) { () async throws -> Bool in
                try await setup.store.run(id: queued.id)?.state.isFinished == true
            }
            #expect(done)
            let run = try #require(try await setup.store.run(id: queued.id))
            #expect(run.state == .succeeded, "\(run.failure ?? "")")
            #expect(run.ownerPID == getpid())
            let progress = try RunProgress.decode(try #require(run.progress))
            // Both what the job did before the restart and after it.
            #expect(progress.stages.count == 12)
            #expect(progress.stages.allSatisfy { $0.step == $0.of })
            #expect(run.pipelineVersion == "stand-in 1")
        }
    }
}
