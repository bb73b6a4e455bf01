public import Foundation
import Synchronization

/// Runs each pipeline as a Slurm batch job: writes `slurm-job.sh` into the run folder, submits
/// it with `sbatch --parsable`, keeps the job id in the folder's `slurm-job-id` file (so a
/// restarted server finds the job again without anything new in the database), follows the
/// job with `scontrol show job` every `pollInterval`, and reads its events from the job's
/// output file (`stdout.log` in the run folder; stderr goes to `stderr.log`) as the local
/// executor reads them from its pipe. A cancel runs `scancel` and waits for the job to leave.
///
/// `started` gets the Slurm job id (not a process id); the run's `pipelinePID` holds it.
public struct SlurmExecutor: RunExecutor {
    public struct Settings: Sendable {
        /// `--partition`; none: the cluster's default partition.
        public var partition: String?
        /// `--gres`, e.g. `gpu:1`.
        public var gres: String?
        /// `--time` in any form sbatch takes (`30`, `2:00:00`, `3-00:00:00`); none: the run
        /// profile's time limit, in minutes.
        public var time: String?
        /// More `#SBATCH` lines, one option each (`--mem=16G`, `--account=lab`).
        public var extraArguments: [String]
        /// How often the job's state and its output file are looked at.
        public var pollInterval: Duration
        /// How long a cancel waits for the job to leave the queue before it gives up on it.
        public var cancelWait: Duration
        public var commands: SlurmCommands

        public init(
            partition: String? = nil, gres: String? = nil, time: String? = nil, extraArguments: [String] = [],
            pollInterval: Duration = .seconds(2), cancelWait: Duration = .seconds(120),
            commands: SlurmCommands = SlurmCommands()
        ) {
            self.partition = partition
            self.gres = gres
            self.time = time
            self.extraArguments = extraArguments
            self.pollInterval = pollInterval
            self.cancelWait = cancelWait
            self.commands = commands
        }
    }

    public var settings: Settings

    public init(settings: Settings = Settings()) {
        self.settings = settings
    }

    /// The files the executor keeps in a run folder.
    public static let scriptFileName = "slurm-job.sh"
    public static let jobIDFileName = "slurm-job-id"
    /// Written by the job script when the pipeline exits: its status, for a job Slurm has
    /// already forgotten when the server looks again.
    public static let exitStatusFileName = "slurm-exit-status"

    public var pipelinesOutliveServer: Bool { true }

    public struct InvalidSetting: Error, CustomStringConvertible {
        public var description: String
    }

    // MARK: The job script

    /// The job name of a run's job: how a resumed server checks that a job id is still its run's.
    public static func jobName(runID: Int64) -> String { "charter-run-\(runID)" }

    /// The batch script for a job: `#SBATCH` options, then a `cd` to the run folder, the
    /// job's environment and the pipeline command with `--manifest`.
    public static func script(for job: RunJob, settings: Settings) throws -> String {
        let directory = job.directory.standardizedFileURL.path
        var options = [
            "--job-name=\(jobName(runID: job.runID))",
            "--chdir=\(directory)",
            "--output=\(job.stdoutLog.standardizedFileURL.path)",
            "--error=\(job.stderrLog.standardizedFileURL.path)",
            "--time=\(settings.time ?? String(minutes(job.timeout)))",
        ]
        if let partition = settings.partition { options.append("--partition=\(partition)") }
        if let gres = settings.gres { options.append("--gres=\(gres)") }
        options += settings.extraArguments
        for option in options {
            guard !option.contains(where: \.isNewline), !option.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw InvalidSetting(
                    description: "an sbatch option is empty or spans lines: \(option.debugDescription)")
            }
        }
        guard let executable = job.command.first, !executable.isEmpty else {
            throw InvalidSetting(description: "the pipeline command is empty")
        }
        var lines = ["#!/bin/bash"]
        lines += options.map { "#SBATCH \($0)" }
        lines += [
            "# Charter's comparison run \(job.runID), submitted with `sbatch --parsable`; the job id is in \(jobIDFileName).",
            "cd \(quoted(directory)) || exit 1",
        ]
        for (name, value) in job.environment.sorted(by: { $0.key < $1.key }) {
            guard isVariableName(name) else {
                throw InvalidSetting(description: "\(name.debugDescription) is not an environment variable name")
            }
            lines.append("export \(name)=\(quoted(value))")
        }
        lines += [
            (job.command + ["--manifest", job.manifest.path]).map(quoted).joined(separator: " ") + " </dev/null",
            "status=$?",
            "echo \"$status\" > \(exitStatusFileName)",
            "# A pipeline killed by a signal ends the job by the same signal, so Slurm records it so.",
            "if [ \"$status\" -gt 128 ] && [ \"$status\" -lt 160 ]; then",
            "  trap - $((status - 128)); kill -n $((status - 128)) $$",
            "fi",
            "exit \"$status\"",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    static func minutes(_ duration: Duration) -> Int64 {
        let seconds = duration.components.seconds + (duration.components.attoseconds > 0 ? 1 : 0)
        return max(1, (seconds + 59) / 60)
    }

    /// A word for the shell, in single quotes.
    static func quoted(_ word: String) -> String {
        "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    static func isVariableName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic)
        else { return false }
        return name.unicodeScalars.allSatisfy {
            $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)))
        }
    }

    /// The job id a run folder's `slurm-job-id` file holds, if any.
    public static func jobID(inRunFolder directory: URL) -> Int? {
        guard let text = try? String(contentsOf: directory.appendingPathComponent(jobIDFileName), encoding: .utf8)
        else { return nil }
        return SlurmParsing.jobID(fromFile: text)
    }

    static func exitStatus(inRunFolder directory: URL) -> Int32? {
        guard
            let text = try? String(
                contentsOf: directory.appendingPathComponent(exitStatusFileName), encoding: .utf8)
        else { return nil }
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    // MARK: Executing

    public func execute(
        _ job: RunJob, started: @escaping @Sendable (Int32) async -> Void,
        event: @escaping @Sendable (PipelineEvent) async -> Void
    ) async throws -> RunExit {
        let script = job.directory.appendingPathComponent(Self.scriptFileName)
        try Self.script(for: job, settings: settings).write(to: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        if Task.isCancelled { return job.control.isDetaching ? .detached : .cancelled }
        // A submission runs to its end even if the task is cancelled meanwhile: the follower
        // then cancels the job it got.
        let commands = settings.commands
        let id = try await Task { try await commands.submit(script) }.value
        try Data("\(id)\n".utf8).write(
            to: job.directory.appendingPathComponent(Self.jobIDFileName), options: .atomic)
        await started(Int32(clamping: id))
        await event(.log("submitted to Slurm as job \(id)"))
        return await follow(job, id: id, event: event)
    }

    public func resume(
        _ job: RunJob, started: @escaping @Sendable (Int32) async -> Void,
        event: @escaping @Sendable (PipelineEvent) async -> Void
    ) async throws -> RunExit? {
        guard let id = Self.jobID(inRunFolder: job.directory) else { return nil }
        let known = try await settings.commands.job(id)
        if let known {
            // A job id from another cluster, or from a cluster whose ids started again, is not
            // this run's job.
            guard known.name == Self.jobName(runID: job.runID),
                known.workDirectory.map({ URL(fileURLWithPath: $0).standardizedFileURL.path })
                    == job.directory.standardizedFileURL.path
            else { return nil }
        } else if Self.exitStatus(inRunFolder: job.directory) == nil {
            // Forgotten by Slurm, and it never wrote its exit status: nothing to follow.
            return nil
        }
        await started(Int32(clamping: id))
        await event(.log("following Slurm job \(id) again after a restart"))
        return await follow(job, id: id, event: event)
    }

    public func stopElsewhere(directory: URL) async -> Bool {
        guard let id = Self.jobID(inRunFolder: directory) else { return false }
        return (try? await settings.commands.cancel(id)) != nil
    }

    /// What a follower knows while it follows: whether it was asked to stop, and whether
    /// `scancel` went out.
    struct FollowState {
        var cancelRequested = false
        var cancelSent = false
    }

    final class SharedFollowState: Sendable {
        let value = Mutex(FollowState())

        func withLock<T>(_ body: (inout FollowState) -> T) -> T { value.withLock { body(&$0) } }
    }

    /// Follows the job to its end, in an unstructured task so that a cancel stops the job but
    /// not the reading of what it prints while it stops.
    func follow(_ job: RunJob, id: Int, event: @escaping @Sendable (PipelineEvent) async -> Void) async -> RunExit {
        let state = SharedFollowState()
        let settings = self.settings
        let commands = settings.commands
        let follower = Task { () -> RunExit in
            var tail = OutputTail(file: job.stdoutLog)
            var lastState: SlurmJobState?
            var cancelDeadline: ContinuousClock.Instant?
            var ended: RunExit?
            func drain(_ lines: [String]) async {
                for line in lines {
                    if let parsed = PipelineEvent.parse(line) { await event(parsed) }
                }
            }
            while ended == nil {
                await drain(tail.read())
                if job.control.isDetaching, state.withLock({ $0.cancelRequested }) { return .detached }
                let mustCancel = state.withLock { current -> Bool in
                    guard current.cancelRequested, !current.cancelSent else { return false }
                    current.cancelSent = true
                    return true
                }
                if mustCancel, (try? await commands.cancel(id)) == nil {
                    state.withLock { $0.cancelSent = false }
                }
                if cancelDeadline == nil, state.withLock({ $0.cancelRequested }) {
                    cancelDeadline = .now + settings.cancelWait
                }
                do {
                    if let info = try await commands.job(id) {
                        if info.state != lastState, !info.state.isFinal {
                            lastState = info.state
                            let why = info.reason.map { $0 == "None" ? "" : " (\($0))" } ?? ""
                            await event(.log("Slurm job \(id) is \(info.state.rawValue.lowercased())\(why)"))
                        }
                        ended = info.exit
                    } else {
                        // Slurm forgot the job (it ended more than MinJobAge ago): its script
                        // left the pipeline's exit status, unless the job was killed.
                        ended =
                            Self.exitStatus(inRunFolder: job.directory).map(RunExit.exited)
                            ?? .failed(
                                "Slurm no longer knows job \(id), and the job left no exit status (it was killed)")
                    }
                } catch {
                    // The controller did not answer: ask again at the next poll.
                }
                if ended == nil, let cancelDeadline, ContinuousClock.now >= cancelDeadline {
                    ended = .cancelled
                }
                if ended == nil { try? await Task.sleep(for: settings.pollInterval) }
            }
            // What the job printed last, including a last line with no newline.
            await drain(tail.read())
            await drain(tail.finish())
            return ended ?? .cancelled
        }
        let exit = await withTaskCancellationHandler {
            await follower.value
        } onCancel: {
            let send = state.withLock { current -> Bool in
                current.cancelRequested = true
                guard !job.control.isDetaching, !current.cancelSent else { return false }
                current.cancelSent = true
                return true
            }
            // At once rather than at the next poll; the follower sends it again if this fails.
            if send {
                Task {
                    if (try? await commands.cancel(id)) == nil { state.withLock { $0.cancelSent = false } }
                }
            }
        }
        if exit == .detached { return .detached }
        return state.withLock { $0.cancelRequested } ? .cancelled : exit
    }
}
