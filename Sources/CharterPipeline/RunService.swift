public import CharterCompiler
public import CharterDomain
public import CharterStore
public import Foundation
public import Logging
public import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The queue of comparison runs and their execution, as a lifecycle service: it starts queued
/// runs up to the concurrency limit, follows each pipeline's progress into the store, and ends
/// every run in a final state with its reason. Runs a previous process left running are failed
/// when it starts.
public actor RunService: Service {
    public let store: any RunStore & ConstitutionStore & ConversationStore
    public let configuration: RunConfiguration
    let executor: any RunExecutor
    let logger: Logger

    var active: [Int64: Task<ComparisonRun, Never>] = [:]
    /// Each executing run's control, by which a shutdown lets go of pipelines that outlive it.
    var controls: [Int64: RunControl] = [:]
    private var cancellations: [Int64: (actor: Actor?, reason: String, state: RunState)] = [:]
    private var stopping = false
    /// Only a running service takes runs from the queue: a command that merely queues one must
    /// not start its pipeline and then exit under it.
    private var serving = false
    /// This process among the servers sharing the database: `host:pid:nonce`.
    public nonisolated let serverID = RunService.makeServerID()
    private var leaseRenewed = ContinuousClock.now
    private var recovered = ContinuousClock.now

    public init(
        store: any RunStore & ConstitutionStore & ConversationStore,
        configuration: RunConfiguration = RunConfiguration(),
        executor: (any RunExecutor)? = nil, logger: Logger = Logger(label: "charter.runs")
    ) {
        self.store = store
        self.configuration = configuration
        self.executor = executor ?? LocalProcessExecutor(grace: configuration.grace)
        self.logger = logger
    }

    // MARK: The service

    public func run() async throws {
        try await recoverInterrupted()
        checkRunsFolderIsShared()
        serving = true
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.keepLeases()
                await self.schedule()
                try await Task.sleep(for: self.configuration.pollInterval)
            }
        }
        await stopAll(
            reason: "interrupted: the server shut down before the run finished",
            detaching: executor.pipelinesOutliveServer)
    }

    /// Starts queued runs now rather than at the next poll.
    public nonisolated func wake() {
        Task { await self.schedule() }
    }

    /// Stops every run this process is executing and waits for them to end. With `detaching`,
    /// pipelines that outlive the server (Slurm jobs) are let go instead: their runs stay
    /// running, and the next server follows them again (`recoverInterrupted`).
    public func stopAll(reason: String, detaching: Bool = false) async {
        stopping = true
        let running = active
        for (id, task) in running {
            if detaching { controls[id]?.detach() }
            cancellations[id] = (nil, reason, .failed)
            task.cancel()
        }
        for task in running.values { _ = await task.value }
    }

    func schedule() async {
        guard serving, !stopping else { return }
        let free = configuration.concurrency - active.count
        guard free > 0 else { return }
        for _ in 0..<free where !stopping {
            let claimed: ComparisonRun
            do {
                guard
                    let next = try await store.claimNextRun(
                        owner: serverID, ownerPID: getpid(), leaseExpiresAt: leaseEnd(), at: Date())
                else { return }
                claimed = next
            } catch {
                // A cancelled task (a shutdown) is not a fault of the queue's.
                if !Self.isCancellation(error) {
                    logger.error("cannot take a run from the queue", metadata: ["error": "\(error)"])
                }
                return
            }
            active[claimed.id] = Task {
                let ended = await self.execute(claimed, onEvent: nil)
                await self.finished(claimed.id)
                return ended
            }
        }
    }

    /// A run's task is done: the next queued run is started from a task of its own, since
    /// the finished one may have been cancelled (and a cancelled task's store calls fail).
    func finished(_ id: Int64) async {
        active[id] = nil
        cancellations[id] = nil
        wake()
    }

    /// Whether an error is only the calling task's cancellation (a user's cancel of its run,
    /// or a shutdown) surfacing from the store or a sleep: an expected end, not a fault.
    static func isCancellation(_ error: any Error) -> Bool {
        error is CancellationError || Task.isCancelled
    }

    /// Takes a queued run for this process; nil when another process or request took it first.
    func claim(_ id: Int64) async throws -> ComparisonRun? {
        try await store.updateRun(
            id: id, expecting: [.queued],
            RunChange(
                state: .running, startedAt: Date(), ownerPID: getpid(), owner: serverID, leaseExpiresAt: leaseEnd()),
            by: nil)
    }

    func leaseEnd() -> Date {
        Date().addingTimeInterval(Double(configuration.lease.components.seconds))
    }

    /// Renews the leases of the runs this server executes (every third of the lease), and
    /// looks for runs whose server died (every half lease), so that another server's death
    /// does not leave its runs running for ever.
    func keepLeases() async {
        let now = ContinuousClock.now
        if now - leaseRenewed >= configuration.lease / 3 {
            do {
                _ = try await store.renewRunLeases(owner: serverID, until: leaseEnd())
                leaseRenewed = now
            } catch  where !Self.isCancellation(error) {
                logger.error("cannot renew the runs' leases", metadata: ["error": "\(error)"])
            } catch {}
        }
        if now - recovered >= configuration.lease / 2 {
            recovered = now
            do {
                try await recoverInterrupted()
            } catch  where !Self.isCancellation(error) {
                logger.error("cannot look for runs whose server stopped", metadata: ["error": "\(error)"])
            } catch {}
        }
    }

    static func makeServerID() -> String {
        var name = [CChar](repeating: 0, count: 256)
        let host =
            gethostname(&name, name.count) == 0
            ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "localhost"
        return "\(host):\(getpid()):\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
    }

    // MARK: Requests

    /// Queues a run of a published constitution against a baseline.
    public func enqueue(
        constitutionID: Int64, baseline: BaselineChoice, profile: RunProfile, seed: Int64?,
        parameters: [String: RunParameter], by actor: Actor
    ) async throws -> ComparisonRun {
        try checkParameters(parameters, profile: profile)
        let parameters = try RunParameterPaths.confined(
            parameters,
            roots: ["model_path": configuration.modelsDirectory, "prompts_path": configuration.promptsDirectory])
        guard let stored = try await store.constitution(id: constitutionID) else {
            throw CharterError.notFound("Constitution")
        }
        _ = try Self.parseConstitution(stored.body, what: "The collective constitution", field: "constitution_id")
        let (source, constitution) = try await resolve(baseline)
        let hashed = try constitution.hashed()
        let request = NewComparisonRun(
            ccaiConstitutionID: constitutionID, baselineSource: source, baselineBody: try hashed.rendered(.json),
            baselineSHA256: hashed.sha256 ?? "", profile: profile, seed: seed ?? Int64.random(in: 1...999_999),
            parameters: parameters, pipelineCommand: configuration.pipelineCommand)
        let run = try await store.createRun(request, by: actor)
        wake()
        return run
    }

    /// Queues the same run again: the same constitutions, profile, seed and parameters.
    public func retry(id: Int64, by actor: Actor) async throws -> ComparisonRun {
        guard let run = try await store.run(id: id) else { throw CharterError.notFound("Run") }
        guard run.state.isFinished else {
            throw CharterError.conflict("Run \(id) is \(run.state.rawValue); only a finished run can be run again.")
        }
        var request = run.request
        request.retryOf = id
        let new = try await store.createRun(request, by: actor)
        wake()
        return new
    }

    /// Cancels a queued run at once, or stops a running one (SIGTERM, then SIGKILL after the
    /// grace period) and returns once it has ended.
    public func cancel(id: Int64, by actor: Actor) async throws -> ComparisonRun {
        guard let run = try await store.run(id: id) else { throw CharterError.notFound("Run") }
        let reason = "cancelled by \(actor.name)"
        if run.state == .queued,
            let cancelled = try await store.updateRun(
                id: id, expecting: [.queued],
                RunChange(state: .cancelled, finishedAt: Date(), failure: reason + " before it started"), by: actor)
        {
            return cancelled
        }
        if let task = active[id] {
            cancellations[id] = (actor, reason, .cancelled)
            task.cancel()
            _ = await task.value
            return try await store.run(id: id) ?? run
        }
        let current = try await store.run(id: id) ?? run
        if current.state == .running {
            // Another live process (`charter run --wait`) executes it: stop its pipeline (its
            // Slurm job, or its local process group), and that process records the end.
            if let directory = current.directory,
                await executor.stopElsewhere(directory: URL(fileURLWithPath: directory))
            {
                return current
            }
            if let group = Self.localProcessGroup(of: current) {
                kill(-group, SIGTERM)
            }
            return current
        }
        throw CharterError.conflict("Run \(id) has already finished (\(current.state.rawValue)).")
    }

    /// The pipeline's list of parameters, read afresh (a pipeline updated under a running
    /// server is believed at once); nil when the pipeline has none where it is looked for.
    /// A list that is there but unreadable is refused: runs would be checked against nothing.
    public nonisolated func pipelineParameters() throws -> PipelineParameters? {
        guard let url = configuration.parametersURL, FileManager.default.fileExists(atPath: url.path) else {
            return nil
        }
        do {
            return try PipelineParameters.decode(try Data(contentsOf: url))
        } catch let error as CharterError {
            throw error
        } catch {
            throw CharterError.conflict(
                "The pipeline's list of parameters (\(url.path)) cannot be read: \(Self.describe(error))")
        }
    }

    /// Run parameters Charter itself takes (they go into the manifest's own fields, not its
    /// `parameters`): the pipeline's list does not name them.
    public static let manifestParameters: Set<String> = ["prompts_path"]

    /// Everything that can be known about a run's parameters before it is queued: names and
    /// sizes, then the pipeline's own list (names, types, ranges, what the profile needs).
    public nonisolated func checkParameters(_ parameters: [String: RunParameter], profile: RunProfile) throws {
        try Self.validate(parameters)
        try pipelineParameters()?.check(
            parameters.filter { !Self.manifestParameters.contains($0.key) }, profile: profile)
    }

    static func validate(_ parameters: [String: RunParameter]) throws {
        guard parameters.count <= 50 else {
            throw CharterError.invalid(field: "parameters", message: "A run takes at most 50 parameters.")
        }
        for (name, value) in parameters {
            guard (1...64).contains(name.count),
                name.unicodeScalars.allSatisfy({
                    ($0.isASCII && $0.properties.isAlphabetic) || ("0"..."9").contains($0) || $0 == "_"
                })
            else {
                throw CharterError.invalid(
                    field: "parameters",
                    message: "Parameter names are 1–64 letters, digits and underscores; \"\(name.prefix(64))\" is not.")
            }
            if case .string(let text) = value, text.count > 1000 {
                throw CharterError.invalid(field: "parameters", message: "The parameter \(name) is too long.")
            }
        }
    }

    func resolve(_ baseline: BaselineChoice) async throws -> (source: String, constitution: Constitution) {
        switch baseline {
        case .charter:
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: configuration.baselinePath))
            } catch {
                throw CharterError.conflict(
                    "Charter's baseline constitution cannot be read from \(configuration.baselinePath).")
            }
            return (configuration.baselinePath, try Self.parseConstitution(data, what: "Charter's baseline"))
        case .constitution(let id):
            guard let stored = try await store.constitution(id: id) else {
                throw CharterError.notFound("Baseline constitution")
            }
            let conversation = try await store.conversation(id: stored.conversationID)
            return (
                "constitution \(id) (\(conversation?.slug ?? "?") v\(stored.version))",
                try Self.parseConstitution(stored.body, what: "The baseline constitution")
            )
        case .uploaded(let data, let name):
            return ("uploaded \(name.prefix(100))", try Self.parseConstitution(data, what: "The uploaded baseline"))
        }
    }

    /// A constitution file in Charter's format with at least one principle, each with words.
    public static func parseConstitution(_ data: Data, what: String, field: String = "baseline") throws -> Constitution
    {
        let constitution: Constitution
        do {
            constitution = try Constitution.decode(data)
        } catch {
            throw CharterError.invalid(
                field: field,
                message: "\(what) is not a constitution in Charter's JSON format (charter.constitution/v1).")
        }
        guard constitution.format == Constitution.formatName else {
            throw CharterError.invalid(
                field: field,
                message: "\(what) has the format \(constitution.format), not \(Constitution.formatName).")
        }
        guard !constitution.principles.isEmpty,
            constitution.principles.allSatisfy({ !$0.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty })
        else {
            throw CharterError.invalid(field: field, message: "\(what) has no principles, or one without words.")
        }
        return constitution
    }

    // MARK: Execution

    /// Claims a queued run and executes it in the calling task (`charter run --wait`). Returns
    /// nil if another process took it first.
    public func executeNow(id: Int64, onEvent: (@Sendable (PipelineEvent) -> Void)?) async throws -> ComparisonRun? {
        guard let claimed = try await claim(id) else { return nil }
        // A task of its own, registered like the queue's, so that `cancel` reaches it.
        let task = Task { await self.execute(claimed, onEvent: onEvent) }
        active[id] = task
        let ended = await withTaskCancellationHandler {
            await task.value
        } onCancel: {
            task.cancel()
        }
        active[id] = nil
        cancellations[id] = nil
        return ended
    }

    /// Runs a claimed run to its final state.
    func execute(_ run: ComparisonRun, onEvent: (@Sendable (PipelineEvent) -> Void)?) async -> ComparisonRun {
        let workspace = RunWorkspace(runsDirectory: configuration.runsDirectory, runID: run.id)
        var log = logger
        log[metadataKey: "run"] = "\(run.id)"
        let end: RunChange?
        do {
            guard let stored = try await store.constitution(id: run.request.ccaiConstitutionID) else {
                throw CharterError.notFound("Constitution")
            }
            let ccai = try Constitution.decode(stored.body)
            let baseline = try Constitution.decode(run.request.baselineBody)
            _ = try workspace.prepare(
                run: run, ccai: ccai, baseline: baseline,
                bbqDirectory: configuration.bbqDirectory ?? RunConfiguration.defaultBBQDirectory())
            _ = try await store.updateRun(
                id: run.id, expecting: [.running], RunChange(directory: workspace.directory.path), by: nil)
            end = try await follow(run, in: workspace, onEvent: onEvent, log: log)
        } catch  where Self.isCancellation(error) {
            // Cancelled (or the server stopping) before its pipeline started: an end like any
            // other cancel, not a failure to start.
            let cancellation = cancellations[run.id]
            end = RunChange(state: cancellation?.state ?? .cancelled, failure: cancellation?.reason ?? "cancelled")
        } catch {
            log.error("run could not start", metadata: ["error": "\(error)"])
            end = RunChange(state: .failed, failure: "The run could not start: \(Self.describe(error))")
        }
        guard let end else {
            log.info("run left running: its pipeline goes on, and the next server follows it again")
            return run
        }
        return await record(end, of: run, log: log)
    }

    /// Writes a run's end to the store, and returns the run as stored.
    func record(_ end: RunChange, of run: ComparisonRun, log: Logger) async -> ComparisonRun {
        var change = end
        change.finishedAt = Date()
        let cancellation = cancellations[run.id]
        let store = self.store
        let ending = change
        let actor = cancellation?.actor
        do {
            // In a task of its own: a cancelled run's end must still be written, and the store
            // refuses work to a cancelled task.
            _ = try await Task {
                try await store.updateRun(id: run.id, expecting: [.running], ending, by: actor)
            }.value
        } catch {
            log.error("cannot record the end of the run", metadata: ["error": "\(error)"])
        }
        log.info(
            change.state == .cancelled ? "run cancelled" : "run ended",
            metadata: ["state": "\(change.state?.rawValue ?? "?")", "reason": "\(change.failure ?? "")"])
        let reread = try? await Task { try await store.run(id: run.id) }.value
        return reread ?? run
    }

    /// Executes (or, with `resuming`, follows again after a restart) a run's pipeline and says
    /// how the run ended; nil when it has not: the pipeline was let go of at a shutdown, or
    /// there was nothing to resume.
    func follow(
        _ run: ComparisonRun, in workspace: RunWorkspace, onEvent: (@Sendable (PipelineEvent) -> Void)?, log: Logger,
        resuming: ResumeDecision? = nil
    ) async throws -> RunChange? {
        let recorder = ProgressRecorder(store: store, runID: run.id)
        let control = RunControl()
        controls[run.id] = control
        defer { controls[run.id] = nil }
        let job = RunJob(
            runID: run.id, command: configuration.command, directory: workspace.directory,
            manifest: workspace.manifest, timeout: configuration.timeouts[run.request.profile] ?? .seconds(3600),
            environment: configuration.environment, control: control)
        let store = self.store
        let started: @Sendable (Int32) async -> Void = { pid in
            resuming?.resolve(true)
            _ = try? await store.updateRun(id: run.id, expecting: [.running], RunChange(pipelinePID: pid), by: nil)
        }
        let event: @Sendable (PipelineEvent) async -> Void = { event in
            onEvent?(event)
            await recorder.apply(event)
        }
        let exit: RunExit
        if let resuming {
            guard let resumed = try await executor.resume(job, started: started, event: event) else {
                resuming.resolve(false)
                return nil
            }
            exit = resumed
        } else {
            log.info("pipeline starting", metadata: ["command": "\(job.command.joined(separator: " "))"])
            exit = try await executor.execute(job, started: started, event: event)
        }
        var change = RunChange(progress: await recorder.snapshot())
        switch exit {
        case .detached:
            return nil
        case .failed(let reason):
            change.state = .failed
            change.failure = reason + Self.lastLine(workspace)
        case .cancelled:
            let cancellation = cancellations[run.id]
            change.state = cancellation?.state ?? .cancelled
            change.failure = cancellation?.reason ?? "cancelled"
        case .timedOut:
            change.state = .failed
            change.failure =
                "timed out after \(Self.describe(job.timeout)) (the limit of the \(run.request.profile.rawValue) profile)"
        case .signalled(let signal):
            change.state = .failed
            change.failure = "the pipeline was killed by signal \(signal)" + Self.lastLine(workspace)
        case .exited(let status) where status != 0:
            change.state = .failed
            change.failure = "the pipeline exited with status \(status)" + Self.lastLine(workspace)
        case .exited:
            do {
                let data = try Data(contentsOf: workspace.results)
                let results = try RunResults.parse(data)
                change.state = .succeeded
                change.results = data
                change.pipelineVersion = results.pipelineVersion
            } catch let malformed as RunResults.Malformed {
                change.state = .failed
                change.failure = "the pipeline's results.json is malformed: \(malformed.description)"
            } catch {
                change.state = .failed
                change.failure = "the pipeline exited normally but wrote no output/results.json"
            }
        }
        return change
    }

    static func lastLine(_ workspace: RunWorkspace) -> String {
        guard
            let line = workspace.tail("stderr.log", lines: 5).last(where: {
                !$0.trimmingCharacters(in: .whitespaces).isEmpty
            })
        else { return "" }
        return ": " + String(line.trimmingCharacters(in: .whitespaces).prefix(300))
    }

    static func describe(_ duration: Duration) -> String {
        let seconds = Int(duration.components.seconds)
        if seconds >= 3600, seconds % 3600 == 0 { return "\(seconds / 3600) h" }
        if seconds >= 60, seconds % 60 == 0 { return "\(seconds / 60) min" }
        return "\(seconds) s"
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? CharterError { return error.message }
        if let error = error as? LocalProcessExecutor.LaunchFailed { return error.description }
        return "\(error)"
    }
}
