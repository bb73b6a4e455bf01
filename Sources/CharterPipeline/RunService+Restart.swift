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

    /// Fails the runs a previous process left running, and kills their pipelines if they
    /// outlived it. A run that another live process is executing is left alone.
    public func recoverInterrupted() async throws {
        let me = getpid()
        for run in try await store.runs(in: [.running]) where active[run.id] == nil {
            if let owner = run.ownerPID, owner != me, Self.isAlive(owner) { continue }
            if let group = run.pipelinePID, let directory = run.directory,
                Self.processGroup(group, isInDirectory: directory)
            {
                kill(-group, SIGKILL)
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

/// Folds a run's events into its progress, and writes it to the store at most twice a second so
/// a chatty pipeline does not become a write load.
actor ProgressRecorder {
    let store: any CharterStore
    let runID: Int64
    var progress = RunProgress()
    var lastSaved = ContinuousClock.now - .seconds(60)

    init(store: any CharterStore, runID: Int64) {
        self.store = store
        self.runID = runID
    }

    func apply(_ event: PipelineEvent) async {
        progress.apply(event)
        guard ContinuousClock.now - lastSaved >= .milliseconds(500) else { return }
        lastSaved = ContinuousClock.now
        if let data = try? progress.encoded() {
            _ = try? await store.updateRun(id: runID, expecting: [.running], RunChange(progress: data), by: nil)
        }
    }

    func snapshot() -> Data? { try? progress.encoded() }
}
