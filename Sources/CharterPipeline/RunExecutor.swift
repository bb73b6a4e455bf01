public import Foundation

/// One pipeline execution: what to start, where, and for how long at most.
public struct RunJob: Sendable {
    public var runID: Int64
    /// The pipeline command: an executable and fixed arguments; `--manifest <path>` is appended.
    public var command: [String]
    public var directory: URL
    public var manifest: URL
    public var timeout: Duration
    public var environment: [String: String]

    public init(
        runID: Int64, command: [String], directory: URL, manifest: URL, timeout: Duration,
        environment: [String: String] = [:]
    ) {
        self.runID = runID
        self.command = command
        self.directory = directory
        self.manifest = manifest
        self.timeout = timeout
        self.environment = environment
    }

    public var stdoutLog: URL { directory.appendingPathComponent("stdout.log") }
    public var stderrLog: URL { directory.appendingPathComponent("stderr.log") }
}

/// How an execution ended.
public enum RunExit: Sendable, Equatable {
    case exited(Int32)
    case signalled(Int32)
    case timedOut
    /// The task running it was cancelled (a user's cancel, or the server shutting down).
    case cancelled
}

/// Where pipelines run. The local-subprocess executor is the one there is; a cluster executor
/// (submitting to Slurm, say, and following the job's output file) implements the same call,
/// and nothing else in Charter changes.
public protocol RunExecutor: Sendable {
    /// Runs the job to its end. `started` gets the pipeline's process group as soon as it runs;
    /// `event` gets each contract event it prints. Cancelling the calling task stops the
    /// pipeline (SIGTERM to its group, SIGKILL after a grace period) and returns `.cancelled`.
    func execute(
        _ job: RunJob, started: @escaping @Sendable (Int32) async -> Void,
        event: @escaping @Sendable (PipelineEvent) async -> Void
    ) async throws -> RunExit
}
