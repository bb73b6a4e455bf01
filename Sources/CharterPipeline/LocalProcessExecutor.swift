import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the pipeline as a child process in a process group of its own, so that a cancel or a
/// timeout reaches everything it started (Python's worker processes included), with stdout
/// read line by line for events and both streams kept in the run folder.
public struct LocalProcessExecutor: RunExecutor {
    /// How long a pipeline has between SIGTERM and SIGKILL.
    public var grace: Duration

    public init(grace: Duration = .seconds(10)) {
        self.grace = grace
    }

    public struct LaunchFailed: Error, CustomStringConvertible {
        public var description: String
    }

    public func execute(
        _ job: RunJob, started: @escaping @Sendable (Int32) async -> Void,
        event: @escaping @Sendable (PipelineEvent) async -> Void
    ) async throws -> RunExit {
        guard let executable = job.command.first, !executable.isEmpty else {
            throw LaunchFailed(description: "the pipeline command is empty")
        }
        let fileManager = FileManager.default
        _ = fileManager.createFile(atPath: job.stdoutLog.path, contents: nil)
        _ = fileManager.createFile(atPath: job.stderrLog.path, contents: nil)
        let stdoutLog = try FileHandle(forWritingTo: job.stdoutLog)
        let stderrLog = try FileHandle(forWritingTo: job.stderrLog)
        defer {
            try? stdoutLog.close()
            try? stderrLog.close()
        }

        let process = Process()
        // `env` finds a bare command name on PATH and then becomes the pipeline (same pid), so
        // the process group we signal is the pipeline's own.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = job.command + ["--manifest", job.manifest.path]
        process.currentDirectoryURL = job.directory
        process.environment = ProcessInfo.processInfo.environment.merging(job.environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = stderrLog
        process.standardInput = FileHandle.nullDevice

        let (exits, exitContinuation) = AsyncStream<RunExit>.makeStream()
        process.terminationHandler = { process in
            exitContinuation.yield(
                process.terminationReason == .uncaughtSignal
                    ? .signalled(process.terminationStatus) : .exited(process.terminationStatus))
            exitContinuation.finish()
        }
        do {
            try process.run()
        } catch {
            throw LaunchFailed(description: "the pipeline command could not be started: \(error)")
        }
        try? pipe.fileHandleForWriting.close()
        let pid = process.processIdentifier
        // Foundation starts the child as the leader of a new group; make sure of it, since
        // everything below signals the group.
        if getpgid(pid) != pid { _ = setpgid(pid, pid) }
        let group = ProcessGroup(leader: pid)
        await started(pid)

        let lines = Self.lines(of: pipe.fileHandleForReading.fileDescriptor)
        let outcome = Mutex<RunExit?>(nil)
        let grace = self.grace
        // Unstructured tasks, so that a cancel stops the pipeline but not the reading of what it
        // prints while it stops, nor the wait for its exit status.
        let reader = Task {
            for await line in lines {
                stdoutLog.write(Data((line + "\n").utf8))
                if let parsed = PipelineEvent.parse(line) { await event(parsed) }
            }
        }
        let waiter = Task {
            for await exit in exits { return exit }
            return RunExit.exited(-1)
        }
        let timer = Task {
            try await Task.sleep(for: job.timeout)
            guard !group.isFinished else { return }
            outcome.withLock { if $0 == nil { $0 = .timedOut } }
            group.terminate(grace: grace)
        }
        return await withTaskCancellationHandler {
            let status = await waiter.value
            group.leaderExited()
            timer.cancel()
            await reader.value
            return outcome.withLock { $0 } ?? status
        } onCancel: {
            guard !group.isFinished else { return }
            outcome.withLock { if $0 == nil { $0 = .cancelled } }
            group.terminate(grace: grace)
        }
    }

    /// The lines a file descriptor yields until end of file, read on a thread of their own so
    /// that a pipeline's output never blocks the server's executors.
    static func lines(of descriptor: Int32) -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .unbounded)
        let thread = Thread {
            var pending = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                if count <= 0 { break }
                pending.append(contentsOf: buffer[0..<count])
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    continuation.yield(String(decoding: pending[..<newline], as: UTF8.self))
                    pending.removeSubrange(...newline)
                }
            }
            if !pending.isEmpty { continuation.yield(String(decoding: pending, as: UTF8.self)) }
            close(descriptor)
            continuation.finish()
        }
        thread.name = "charter.pipeline-output"
        thread.start()
        return stream
    }
}

/// Signals a pipeline's process group: SIGTERM now, SIGKILL after the grace period unless the
/// group is gone by then.
final class ProcessGroup: Sendable {
    let leader: pid_t
    private let finished = Mutex(false)

    init(leader: pid_t) {
        self.leader = leader
    }

    var isFinished: Bool { finished.withLock { $0 } }

    func terminate(grace: Duration) {
        guard !finished.withLock({ $0 }) else { return }
        kill(-leader, SIGTERM)
        let nanoseconds = grace.components.seconds * 1_000_000_000 + grace.components.attoseconds / 1_000_000_000
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds))) { [self] in
            guard !finished.withLock({ $0 }) else { return }
            kill(-leader, SIGKILL)
        }
    }

    /// The leader is gone: whatever it left behind in its group is killed at once, and the
    /// group id is not signalled again (it may be reused).
    func leaderExited() {
        kill(-leader, SIGKILL)
        finished.withLock { $0 = true }
    }
}
