public import Foundation
import Synchronization

/// One pipeline execution: what to start, where, and for how long at most.
public struct RunJob: Sendable {
    public var runID: Int64
    /// The pipeline command: an executable and fixed arguments; `--manifest <path>` is appended.
    public var command: [String]
    public var directory: URL
    public var manifest: URL
    public var timeout: Duration
    public var environment: [String: String]
    /// How the caller asks an executor whose pipelines outlive the server to let go of one
    /// rather than stop it (see `RunExecutor.pipelinesOutliveServer`).
    public var control: RunControl

    public init(
        runID: Int64, command: [String], directory: URL, manifest: URL, timeout: Duration,
        environment: [String: String] = [:], control: RunControl = RunControl()
    ) {
        self.runID = runID
        self.command = command
        self.directory = directory
        self.manifest = manifest
        self.timeout = timeout
        self.environment = environment
        self.control = control
    }

    public var stdoutLog: URL { directory.appendingPathComponent("stdout.log") }
    public var stderrLog: URL { directory.appendingPathComponent("stderr.log") }
}

/// How an execution ended.
public enum RunExit: Sendable, Equatable {
    case exited(Int32)
    case signalled(Int32)
    case timedOut
    /// The task running it was cancelled (a user's cancel, or the server shutting down), or
    /// the cluster cancelled the job.
    case cancelled
    /// The executor saw the pipeline end without an exit status of its own, and says why (a
    /// Slurm job that ended as NODE_FAIL, say).
    case failed(String)
    /// The executor stopped following a pipeline that goes on running (the server is shutting
    /// down after `RunControl.detach()`): the run is not over, and `resume` follows it again.
    case detached
}

/// Shared between the run service and an executor for one job.
public final class RunControl: Sendable {
    private let detaching = Mutex(false)

    public init() {}

    /// The next cancellation of the executing task lets go of the pipeline instead of stopping
    /// it, where the executor can (its `pipelinesOutliveServer`); `execute` then returns
    /// `.detached`.
    public func detach() { detaching.withLock { $0 = true } }

    public var isDetaching: Bool { detaching.withLock { $0 } }
}

/// Where pipelines run: a local subprocess (`LocalProcessExecutor`) or a Slurm job
/// (`SlurmExecutor`, which submits a job script and follows the job's output file).
public protocol RunExecutor: Sendable {
    /// Runs the job to its end. `started` gets the pipeline's id as soon as it runs: the
    /// process group of a local pipeline, the job id of a Slurm job; `event` gets each
    /// contract event it prints. Cancelling the calling task stops the pipeline (SIGTERM to
    /// its group, SIGKILL after a grace period; `scancel` for a Slurm job) and returns
    /// `.cancelled` — or, after `job.control.detach()` on an executor whose pipelines outlive
    /// the server, lets go of it and returns `.detached`.
    func execute(
        _ job: RunJob, started: @escaping @Sendable (Int32) async -> Void,
        event: @escaping @Sendable (PipelineEvent) async -> Void
    ) async throws -> RunExit

    /// Follows again, after a server restart, a pipeline that a previous server process
    /// started for this job (in `job.directory`) and that may still run: `started` is called
    /// once there is one to follow, the events it printed so far are replayed, and the call
    /// returns how it ended. Returns nil, without calling `started`, when there is nothing to
    /// follow (the default: a local pipeline dies with its server).
    func resume(
        _ job: RunJob, started: @escaping @Sendable (Int32) async -> Void,
        event: @escaping @Sendable (PipelineEvent) async -> Void
    ) async throws -> RunExit?

    /// Stops a pipeline that another process follows (a `charter run --wait`), found by its
    /// run folder; false when this executor has no way to (the default).
    func stopElsewhere(directory: URL) async -> Bool

    /// Whether a pipeline goes on when the server stops (a cluster job), so that a graceful
    /// shutdown detaches from it and the next server resumes it, instead of stopping it.
    var pipelinesOutliveServer: Bool { get }
}

extension RunExecutor {
    public func resume(
        _ job: RunJob, started: @escaping @Sendable (Int32) async -> Void,
        event: @escaping @Sendable (PipelineEvent) async -> Void
    ) async throws -> RunExit? { nil }

    public func stopElsewhere(directory: URL) async -> Bool { false }

    public var pipelinesOutliveServer: Bool { false }
}
