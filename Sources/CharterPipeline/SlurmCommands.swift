public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Slurm's command-line tools (`sbatch`, `squeue`, `scontrol`, `scancel`) run as subprocesses,
/// with the folder they are in and the environment they see (`SLURM_CONF`, say) configurable.
public struct SlurmCommands: Sendable {
    /// The folder holding the tools; nil: they are looked up on PATH.
    public var binDirectory: String?
    /// Variables set for the tools over the server's own environment, e.g. `SLURM_CONF`.
    public var environment: [String: String]
    /// How long one command may take before it is killed (a controller that does not answer
    /// makes the tools retry for a while).
    public var timeout: Duration

    public init(binDirectory: String? = nil, environment: [String: String] = [:], timeout: Duration = .seconds(60)) {
        self.binDirectory = binDirectory
        self.environment = environment
        self.timeout = timeout
    }

    /// What a command printed and how it ended.
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// A tool that could not be run, or that said no.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Runs one of the tools to its end.
    public func run(_ tool: String, _ arguments: [String]) async throws -> Output {
        let process = Process()
        if let binDirectory {
            process.executableURL = URL(fileURLWithPath: binDirectory).appendingPathComponent(tool)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [tool] + arguments
        }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardInput = FileHandle.nullDevice
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        let (exits, exitContinuation) = AsyncStream<Int32>.makeStream(bufferingPolicy: .bufferingNewest(1))
        process.terminationHandler = { process in
            exitContinuation.yield(process.terminationStatus)
            exitContinuation.finish()
        }
        do {
            try process.run()
        } catch {
            throw Failure(description: "\(tool) could not be started: \(error)")
        }
        try? stdout.fileHandleForWriting.close()
        try? stderr.fileHandleForWriting.close()
        let pid = process.processIdentifier
        // Read on threads of their own so that a chatty tool never blocks on a full pipe, nor
        // the server's executors on a read.
        async let out = Self.readToEnd(stdout.fileHandleForReading)
        async let err = Self.readToEnd(stderr.fileHandleForReading)
        let limit = timeout
        let timer = Task {
            try await Task.sleep(for: limit)
            kill(pid, SIGKILL)
        }
        var status: Int32 = -1
        for await code in exits { status = code }
        timer.cancel()
        let output = Output(status: status, stdout: await out, stderr: await err)
        if process.terminationReason == .uncaughtSignal {
            throw Failure(description: "\(tool) was killed (signal \(status)); it did not answer in time")
        }
        return output
    }

    static func readToEnd(_ handle: FileHandle) async -> String {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let data = (try? handle.readToEnd()) ?? Data()
                try? handle.close()
                continuation.resume(returning: String(decoding: data, as: UTF8.self))
            }
        }
    }

    /// Submits a job script; returns the job id.
    public func submit(_ script: URL) async throws -> Int {
        let output = try await run("sbatch", ["--parsable", script.path])
        guard output.status == 0 else {
            throw Failure(description: "sbatch refused the job: " + Self.firstLine(output.stderr, or: output.stdout))
        }
        guard let id = SlurmParsing.jobID(fromParsable: output.stdout) else {
            throw Failure(description: "sbatch printed no job id: " + Self.firstLine(output.stdout, or: output.stderr))
        }
        return id
    }

    /// What `scontrol show job` says of a job; nil when Slurm does not know it (never did, or
    /// forgot it after MinJobAge). Throws when Slurm cannot be asked (the controller is down).
    public func job(_ id: Int) async throws -> SlurmJobInfo? {
        let output = try await run("scontrol", ["show", "job", "--oneliner", String(id)])
        if output.status != 0 {
            if SlurmParsing.isUnknownJob(output.stderr + output.stdout) { return nil }
            throw Failure(
                description: "scontrol show job \(id) failed: " + Self.firstLine(output.stderr, or: output.stdout))
        }
        return SlurmParsing.jobs(fromScontrol: output.stdout).first { $0.id == id }
    }

    /// Whether the job is still in the queue (pending, running or completing), per `squeue`.
    public func isQueued(_ id: Int) async throws -> Bool {
        let output = try await run(
            "squeue", ["--noheader", "--jobs", String(id), "--format", SlurmParsing.squeueFormat])
        if output.status != 0 {
            if SlurmParsing.isUnknownJob(output.stderr + output.stdout) { return false }
            throw Failure(description: "squeue failed: " + Self.firstLine(output.stderr, or: output.stdout))
        }
        return SlurmParsing.queue(fromSqueue: output.stdout).contains { $0.id == id }
    }

    /// Asks Slurm to cancel the job (SIGTERM to its processes, SIGKILL after KillWait).
    public func cancel(_ id: Int) async throws {
        let output = try await run("scancel", [String(id)])
        guard output.status == 0 else {
            throw Failure(description: "scancel \(id) failed: " + Self.firstLine(output.stderr, or: output.stdout))
        }
    }

    static func firstLine(_ text: String, or other: String) -> String {
        let line =
            text.split(whereSeparator: \.isNewline).first
            ?? other.split(whereSeparator: \.isNewline).first ?? "(nothing printed)"
        return String(line.prefix(300))
    }
}

/// A job's state as Slurm names it (`JobState=` of scontrol, `%T` of squeue).
public struct SlurmJobState: RawRepresentable, Sendable, Equatable, Hashable, CustomStringConvertible {
    public var rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    public var description: String { rawValue }

    /// The states a job ends in; every other one (PENDING, RUNNING, COMPLETING, SUSPENDED,
    /// REQUEUED, …) means it is still Slurm's to run.
    public static let finalStates: Set<String> = [
        "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "DEADLINE", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
        "PREEMPTED", "SPECIAL_EXIT", "REVOKED",
    ]

    public var isFinal: Bool { Self.finalStates.contains(rawValue) }
}

/// One job as `scontrol show job --oneliner` describes it.
public struct SlurmJobInfo: Sendable, Equatable {
    public var id: Int
    public var name: String?
    public var state: SlurmJobState
    public var reason: String?
    /// `ExitCode=status:signal`: the batch script's exit status, and the signal that ended it.
    public var exitStatus: Int32
    public var exitSignal: Int32
    public var workDirectory: String?
    public var stdoutPath: String?

    public init(
        id: Int, name: String? = nil, state: SlurmJobState, reason: String? = nil, exitStatus: Int32 = 0,
        exitSignal: Int32 = 0, workDirectory: String? = nil, stdoutPath: String? = nil
    ) {
        self.id = id
        self.name = name
        self.state = state
        self.reason = reason
        self.exitStatus = exitStatus
        self.exitSignal = exitSignal
        self.workDirectory = workDirectory
        self.stdoutPath = stdoutPath
    }

    /// How the run ended, once the job is in a final state; nil while Slurm still has it.
    public var exit: RunExit? {
        guard state.isFinal else { return nil }
        switch state.rawValue {
        case "COMPLETED", "FAILED":
            return exitSignal != 0 ? .signalled(exitSignal) : .exited(exitStatus)
        case "CANCELLED":
            return .cancelled
        case "TIMEOUT", "DEADLINE":
            return .timedOut
        case "OUT_OF_MEMORY":
            return .failed("the Slurm job ran out of memory (OUT_OF_MEMORY)")
        default:
            return .failed(
                "the Slurm job ended as \(state.rawValue)" + (reason.map { $0 == "None" ? "" : " (\($0))" } ?? ""))
        }
    }
}

/// One line of `squeue --format '%i|%T|%r'`.
public struct SlurmQueueEntry: Sendable, Equatable {
    public var id: Int
    public var state: SlurmJobState
    public var reason: String

    public init(id: Int, state: SlurmJobState, reason: String) {
        self.id = id
        self.state = state
        self.reason = reason
    }
}

/// The parsing of what Slurm's tools print: pure functions, tested on captured output.
public enum SlurmParsing {
    public static let squeueFormat = "%i|%T|%r"

    /// `sbatch --parsable` prints `id` or `id;cluster`.
    public static func jobID(fromParsable text: String) -> Int? {
        guard
            let line = text.split(whereSeparator: \.isNewline).map({ $0.trimmingCharacters(in: .whitespaces) })
                .first(where: { !$0.isEmpty })
        else { return nil }
        let id = line.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        return Self.positive(id)
    }

    /// The job id a run folder's `slurm-job-id` file holds.
    public static func jobID(fromFile text: String) -> Int? {
        positive(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static func positive(_ text: String) -> Int? {
        guard !text.isEmpty, text.count <= 18, text.allSatisfy({ $0.isASCII && $0.isNumber }), let id = Int(text),
            id > 0
        else { return nil }
        return id
    }

    /// What the tools say of a job id Slurm does not know.
    public static func isUnknownJob(_ text: String) -> Bool {
        text.localizedCaseInsensitiveContains("Invalid job id")
    }

    /// The jobs of `scontrol show job --oneliner` output: one a line, `Key=Value` fields
    /// separated by spaces. A value with spaces in it (a job name, a path) keeps its words:
    /// a word that does not start a new `Key=` field belongs to the value before it.
    public static func jobs(fromScontrol text: String) -> [SlurmJobInfo] {
        text.split(whereSeparator: \.isNewline).compactMap { line in
            let fields = Self.fields(of: line)
            guard let idText = fields["JobId"], let id = positive(idText), let state = fields["JobState"],
                !state.isEmpty
            else { return nil }
            // "JobState=CANCELLED" may carry a suffix in some versions ("CANCELLED+"): keep the name.
            let name = String(state.prefix { $0.isUppercase || $0 == "_" })
            var (status, signal): (Int32, Int32) = (0, 0)
            if let exit = fields["ExitCode"] {
                let parts = exit.split(separator: ":", omittingEmptySubsequences: false)
                status = parts.first.flatMap { Int32($0) } ?? 0
                signal = parts.count > 1 ? Int32(parts[1]) ?? 0 : 0
            }
            return SlurmJobInfo(
                id: id, name: fields["JobName"], state: SlurmJobState(rawValue: name.isEmpty ? state : name),
                reason: fields["Reason"], exitStatus: status, exitSignal: signal, workDirectory: fields["WorkDir"],
                stdoutPath: fields["StdOut"])
        }
    }

    static func fields(of line: Substring) -> [String: String] {
        var fields: [String: String] = [:]
        var key: String?
        for word in line.split(separator: " ", omittingEmptySubsequences: true) {
            if let equals = word.firstIndex(of: "="), isKey(word[..<equals]) {
                let name = String(word[..<equals])
                key = name
                fields[name] = String(word[word.index(after: equals)...])
            } else if let key {
                fields[key, default: ""] += " " + word
            }
        }
        return fields
    }

    /// Field names are letters, with `:` or `/` between parts (`AllocNode:Sid`, `ReqB:S:C:T`).
    static func isKey(_ text: Substring) -> Bool {
        guard let first = text.first, first.isASCII, first.isUppercase else { return false }
        return text.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == ":" || $0 == "/" || $0 == "_" }
    }

    /// The lines of `squeue --noheader --format '%i|%T|%r'`.
    public static func queue(fromSqueue text: String) -> [SlurmQueueEntry] {
        text.split(whereSeparator: \.isNewline).compactMap { line in
            let parts = line.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, let id = positive(parts[0].trimmingCharacters(in: .whitespaces)) else {
                return nil
            }
            let state = parts[1].trimmingCharacters(in: .whitespaces)
            guard !state.isEmpty else { return nil }
            return SlurmQueueEntry(
                id: id, state: SlurmJobState(rawValue: state), reason: parts[2].trimmingCharacters(in: .whitespaces))
        }
    }
}

/// Reads a growing file (a job's output) from where the last read stopped and hands back its
/// complete new lines; the part of a line not yet ended waits for the next read, or for
/// `finish` at the end.
public struct OutputTail: Sendable {
    public let file: URL
    public private(set) var offset: UInt64 = 0
    var pending: [UInt8] = []

    public init(file: URL) {
        self.file = file
    }

    /// The complete lines written since the last read.
    public mutating func read(maxBytes: Int = 1 << 20) -> [String] {
        guard let handle = try? FileHandle(forReadingFrom: file) else { return [] }
        defer { try? handle.close() }
        var lines: [String] = []
        while true {
            guard (try? handle.seek(toOffset: offset)) != nil,
                let data = try? handle.read(upToCount: maxBytes), !data.isEmpty
            else { break }
            offset += UInt64(data.count)
            lines += append(Array(data))
            if data.count < maxBytes { break }
        }
        return lines
    }

    /// Splits what arrived into complete lines, keeping the unfinished rest.
    public mutating func append(_ bytes: [UInt8]) -> [String] {
        pending.append(contentsOf: bytes)
        var lines: [String] = []
        var start = pending.startIndex
        while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(String(decoding: pending[start..<newline], as: UTF8.self))
            start = pending.index(after: newline)
        }
        pending.removeSubrange(pending.startIndex..<start)
        return lines
    }

    /// Whatever is left of a last line with no newline after it.
    public mutating func finish() -> [String] {
        defer { pending = [] }
        return pending.isEmpty ? [] : [String(decoding: pending, as: UTF8.self)]
    }
}
