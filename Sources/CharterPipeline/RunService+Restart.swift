import CharterCompiler
import CharterDomain
import CharterStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

extension RunService {
    // MARK: Restart

    /// Deals with the runs a stopped server left running: a run whose pipeline outlived it (a
    /// Slurm job the cluster still has, or one that left its exit status) is followed again to
    /// its end; the others are failed, and their pipelines killed if they outlived it. A run is
    /// taken over only when its server is gone: a process of this machine that no longer
    /// lives, or a server elsewhere whose lease has run out. A run another live server or
    /// process is executing is left alone.
    public func recoverInterrupted() async throws {
        let me = getpid()
        let host = serverID.split(separator: ":").first.map(String.init) ?? ""
        for run in try await store.runs(in: [.running]) where active[run.id] == nil && run.owner != serverID {
            let onThisHost = run.owner.map { $0.split(separator: ":").first.map(String.init) == host } ?? true
            if onThisHost, let owner = run.ownerPID, owner != me, Self.isAlive(owner) { continue }
            // A dead process of this machine is known gone at once; elsewhere, its lease tells.
            let expiredBy = onThisHost ? Date.distantFuture : Date()
            guard
                let run = try await store.takeOverRun(
                    id: run.id, owner: serverID, ownerPID: me, leaseExpiresAt: leaseEnd(), expiredBy: expiredBy)
            else { continue }
            if let directory = run.directory, !FileManager.default.fileExists(atPath: directory) {
                logger.error(
                    "a run's folder is not on this server: servers sharing a database must share the runs folder",
                    metadata: ["run": "\(run.id)", "folder": "\(directory)"])
                _ = try await store.updateRun(
                    id: run.id, expecting: [.running],
                    RunChange(
                        state: .failed, finishedAt: Date(),
                        failure:
                            "its server stopped, and the server taking it over has no folder \(directory): "
                            + "servers sharing a database must share the runs folder"),
                    by: nil)
                continue
            }
            if let directory = run.directory, await resumeFollowing(run, directory: directory) {
                logger.info("run whose pipeline outlived its server is followed again", metadata: ["run": "\(run.id)"])
                continue
            }
            if let group = Self.localProcessGroup(of: run) {
                kill(-group, SIGKILL)
            }
            if let directory = run.directory,
                let job = SlurmExecutor.jobID(inRunFolder: URL(fileURLWithPath: directory))
            {
                logger.warning(
                    "the interrupted run's Slurm job cannot be followed by this server's executor",
                    metadata: ["run": "\(run.id)", "job": "\(job)"])
            }
            _ = try await store.updateRun(
                id: run.id, expecting: [.running],
                RunChange(
                    state: .failed, finishedAt: Date(),
                    failure: "interrupted by restart: the process running it stopped before it finished"),
                by: nil)
            logger.warning("run interrupted by restart marked failed", metadata: ["run": "\(run.id)"])
        }
    }

    /// Servers sharing a database must share the runs folder: a run another server started
    /// whose folder is not here means this server's `--runs-directory` is another folder.
    func checkRunsFolderIsShared() {
        Task {
            guard let runs = try? await store.runs(in: [.running, .succeeded, .failed]) else { return }
            let missing = runs.filter { run in
                run.owner != serverID && run.directory.map { !FileManager.default.fileExists(atPath: $0) } ?? false
            }
            if let first = missing.first {
                logger.error(
                    "the runs folder does not hold runs other servers started: servers sharing a database must share it",
                    metadata: [
                        "runs": "\(missing.count)", "example": "\(first.id)",
                        "folder": "\(first.directory ?? "")",
                    ])
            }
        }
    }

    /// Asks the executor to follow a run's pipeline again, in a task of the queue's; returns
    /// once it is known whether there is one to follow.
    func resumeFollowing(_ run: ComparisonRun, directory: String) async -> Bool {
        guard
            let claimed = try? await store.updateRun(
                id: run.id, expecting: [.running],
                RunChange(ownerPID: getpid(), owner: serverID, leaseExpiresAt: leaseEnd()), by: nil)
        else { return false }
        let decision = ResumeDecision()
        let task = Task { () -> ComparisonRun in
            let ended = await self.executeResumed(claimed, directory: directory, decision: decision)
            if decision.resolve(false) { await self.finished(run.id) }
            return ended
        }
        active[run.id] = task
        if await decision.value() { return true }
        active[run.id] = nil
        _ = await task.value
        return false
    }

    /// Follows a run's pipeline again and records its end; records nothing when there was
    /// nothing to follow, or when it was let go of again.
    func executeResumed(_ run: ComparisonRun, directory: String, decision: ResumeDecision) async -> ComparisonRun {
        let workspace = RunWorkspace(directory: URL(fileURLWithPath: directory))
        var log = logger
        log[metadataKey: "run"] = "\(run.id)"
        let end: RunChange?
        do {
            end = try await follow(run, in: workspace, onEvent: nil, log: log, resuming: decision)
        } catch {
            guard decision.resolve(false) else {
                log.warning("cannot follow the run's pipeline again", metadata: ["error": "\(error)"])
                return run
            }
            end = RunChange(
                state: .failed, failure: "following the pipeline again after a restart failed: \(Self.describe(error))")
        }
        guard decision.resolve(false), let end else { return run }
        return await record(end, of: run, log: log)
    }

    /// The process group of a run's local pipeline, if it is still alive in the run's folder.
    /// A Slurm run's `pipelinePID` is a job id, never signalled.
    static func localProcessGroup(of run: ComparisonRun) -> Int32? {
        guard let group = run.pipelinePID, group > 1, let directory = run.directory,
            SlurmExecutor.jobID(inRunFolder: URL(fileURLWithPath: directory)) == nil,
            processGroup(group, isInDirectory: directory)
        else { return nil }
        return group
    }

    static func isAlive(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    /// Whether a process (group leader) is still the pipeline of the run in this folder: its
    /// working directory says so, which a reused pid does not share.
    static func processGroup(_ pid: Int32, isInDirectory directory: String) -> Bool {
        guard let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd") else {
            return false
        }
        return URL(fileURLWithPath: cwd).standardizedFileURL.path
            == URL(fileURLWithPath: directory).standardizedFileURL.path
    }
}

/// Whether a restarted server found a pipeline to follow again: decided once, by the
/// executor calling `started` (yes) or returning without (no).
final class ResumeDecision: Sendable {
    private let state = Mutex<(decided: Bool?, waiting: [CheckedContinuation<Bool, Never>])>((nil, []))

    /// Decides, unless already decided; returns the decision.
    @discardableResult
    func resolve(_ value: Bool) -> Bool {
        let (decided, waiting) = state.withLock { current -> (Bool, [CheckedContinuation<Bool, Never>]) in
            if let decided = current.decided { return (decided, []) }
            current.decided = value
            defer { current.waiting = [] }
            return (value, current.waiting)
        }
        for continuation in waiting { continuation.resume(returning: decided) }
        return decided
    }

    func value() async -> Bool {
        await withCheckedContinuation { continuation in
            let decided = state.withLock { current -> Bool? in
                if current.decided == nil { current.waiting.append(continuation) }
                return current.decided
            }
            if let decided { continuation.resume(returning: decided) }
        }
    }
}

/// Folds a run's events into its progress, and writes it to the store at most twice a second so
/// a chatty pipeline does not become a write load. An event that arrives within the half second
/// is written at its end, so the stored progress never lags a pipeline that went quiet.
actor ProgressRecorder {
    let store: any RunStore
    let runID: Int64
    var progress = RunProgress()
    var lastSaved = ContinuousClock.now - .seconds(60)
    var unsaved = false
    var flushScheduled = false
    static let interval = Duration.milliseconds(500)

    init(store: any RunStore, runID: Int64) {
        self.store = store
        self.runID = runID
    }

    func apply(_ event: PipelineEvent) async {
        progress.apply(event)
        unsaved = true
        let since = ContinuousClock.now - lastSaved
        guard since >= Self.interval else {
            if !flushScheduled {
                flushScheduled = true
                let wait = Self.interval - since
                Task {
                    try? await Task.sleep(for: wait)
                    await self.flush()
                }
            }
            return
        }
        await save()
    }

    func flush() async {
        flushScheduled = false
        if unsaved { await save() }
    }

    private func save() async {
        lastSaved = ContinuousClock.now
        unsaved = false
        if let data = try? progress.encoded() {
            _ = try? await store.updateRun(id: runID, expecting: [.running], RunChange(progress: data), by: nil)
        }
    }

    func snapshot() -> Data? { try? progress.encoded() }
}
