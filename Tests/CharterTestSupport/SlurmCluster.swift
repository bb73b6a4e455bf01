public import CharterPipeline
public import Foundation
public import Testing

/// A real single-node Slurm cluster for the tests that need one, started with
/// `scripts/slurm/cluster start` into a temporary folder and stopped with `cluster stop`
/// (each daemon by its own PID file). One cluster serves every such test of the process: the
/// first user starts it, the last one done stops it. Where Slurm cannot be installed (the
/// script's exit status 3) the tests that need it are skipped with the script's reason; any
/// other failure to start fails them.
public actor SlurmTestCluster {
    public static let shared = SlurmTestCluster()

    /// A cluster that is up.
    public struct Running: Sendable {
        public let directory: URL
        /// The absolute `slurm.conf`, also in `commands.environment["SLURM_CONF"]`.
        public let configuration: URL
        public let commands: SlurmCommands
    }

    enum Status: Sendable {
        case running(Running)
        case unavailable(String)
        case failed(String)
    }

    /// slurmctld's port (slurmd's is the next): away from the script's default, so that a
    /// cluster a developer started by hand (scripts/slurm/smoke-run) is not in the way.
    static let port = ProcessInfo.processInfo.environment["CHARTER_SLURM_TEST_PORT"] ?? "16827"

    private var users = 0
    private var starting: Task<Status, Never>?
    private var stopping: Task<Void, Never>?

    /// Runs `body` with the cluster up. Skips the calling test when Slurm cannot be installed.
    public func use<T: Sendable>(_ body: @Sendable (Running) async throws -> T) async throws -> T {
        let status = await acquire()
        do {
            let value: T
            switch status {
            case .running(let cluster):
                value = try await body(cluster)
            case .unavailable(let reason):
                try Test.cancel("Slurm cannot be installed on this machine: \(reason)")
            case .failed(let reason):
                throw ClusterFailed(description: reason)
            }
            await release()
            return value
        } catch {
            await release()
            throw error
        }
    }

    /// Holds the cluster for a whole suite (the `.slurmCluster` trait), so that its tests share
    /// one start and one stop.
    func hold(_ body: @Sendable () async throws -> Void) async throws {
        _ = await acquire()
        do {
            try await body()
        } catch {
            await release()
            throw error
        }
        await release()
    }

    public struct ClusterFailed: Error, CustomStringConvertible {
        public var description: String
    }

    private func acquire() async -> Status {
        if let stopping { await stopping.value }
        users += 1
        let task = starting ?? Task { await Self.start() }
        starting = task
        return await task.value
    }

    private func release() async {
        users -= 1
        guard users == 0, let task = starting else { return }
        starting = nil
        let stop = Task {
            if case .running(let cluster) = await task.value { await Self.stop(cluster) }
        }
        stopping = stop
        await stop.value
        if stopping == stop { stopping = nil }
    }

    static var script: URL { Fixtures.repository.appendingPathComponent("scripts/slurm/cluster") }

    static func start() async -> Status {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "charter-slurm-\(UUID().uuidString.prefix(8))", isDirectory: true)
        let (status, output) = await run(script.path, ["start", directory.path, "--port", port])
        switch status {
        case 0:
            let configuration = directory.appendingPathComponent("slurm.conf")
            return .running(
                Running(
                    directory: directory, configuration: configuration,
                    commands: SlurmCommands(environment: ["SLURM_CONF": configuration.path])))
        case 3:
            return .unavailable(output.trimmingCharacters(in: .whitespacesAndNewlines))
        default:
            // Whatever the script started before it failed is stopped.
            _ = await run(script.path, ["stop", directory.path])
            return .failed("scripts/slurm/cluster start failed (status \(status)): \(output)")
        }
    }

    static func stop(_ cluster: Running) async {
        let (status, output) = await run(script.path, ["stop", cluster.directory.path])
        if status == 0 {
            try? FileManager.default.removeItem(at: cluster.directory)
        } else {
            print("scripts/slurm/cluster stop \(cluster.directory.path) failed (status \(status)): \(output)")
        }
    }

    /// Runs a command to its end; its status and what it printed on both streams. The output
    /// goes through a file, not a pipe: a daemon the command starts must not keep the reader
    /// waiting for the end of it.
    static func run(_ executable: String, _ arguments: [String]) async -> (Int32, String) {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let log = FileManager.default.temporaryDirectory.appendingPathComponent(
                    "charter-slurm-cluster-\(UUID().uuidString).log")
                defer { try? FileManager.default.removeItem(at: log) }
                let process = Process()
                process.executableURL = URL(fileURLWithPath: executable)
                process.arguments = arguments
                process.standardInput = FileHandle.nullDevice
                do {
                    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
                    let output = try FileHandle(forWritingTo: log)
                    defer { try? output.close() }
                    process.standardOutput = output
                    process.standardError = output
                    try process.run()
                } catch {
                    continuation.resume(returning: (-1, "\(executable) could not be started: \(error)"))
                    return
                }
                process.waitUntilExit()
                let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                continuation.resume(returning: (process.terminationStatus, text))
            }
        }
    }
}

/// The suite trait that keeps one Slurm cluster up for all of a suite's tests.
public struct SlurmClusterTrait: SuiteTrait, TestScoping {
    public var isRecursive: Bool { false }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await SlurmTestCluster.shared.hold(function)
    }
}

extension Trait where Self == SlurmClusterTrait {
    /// One real single-node Slurm cluster for the suite (`scripts/slurm/cluster`).
    public static var slurmCluster: Self { SlurmClusterTrait() }
}
