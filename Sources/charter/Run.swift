import ArgumentParser
import CharterDomain
import CharterPipeline
import CharterStore
import Foundation
import Logging
import Synchronization

/// Where and how comparison runs execute; shared by `serve` and `run`.
struct PipelineOptions: ParsableArguments {
    @Option(help: "The folder run folders are made in (env CHARTER_RUNS).")
    var runsDirectory: String = ProcessInfo.processInfo.environment["CHARTER_RUNS"] ?? "runs"

    @Option(help: "The training pipeline command (env CHARTER_PIPELINE_COMMAND).")
    var pipelineCommand: String =
        ProcessInfo.processInfo.environment["CHARTER_PIPELINE_COMMAND"] ?? "scripts/pipeline/run"

    @Option(help: "Runs executing at once (env CHARTER_RUN_CONCURRENCY).")
    var runConcurrency: Int = ProcessInfo.processInfo.environment["CHARTER_RUN_CONCURRENCY"].flatMap(Int.init) ?? 1

    @Option(
        help: "Time limits per profile in minutes, e.g. smoke=20,small=120 (env CHARTER_RUN_TIMEOUTS).")
    var runTimeouts: String = ProcessInfo.processInfo.environment["CHARTER_RUN_TIMEOUTS"] ?? ""

    @Option(help: "BBQ's data folder (env CHARTER_BBQ); found in ../shared/evals/bbq/data by default.")
    var bbqDirectory: String = ProcessInfo.processInfo.environment["CHARTER_BBQ"] ?? ""

    @Option(help: "Charter's baseline constitution (env CHARTER_BASELINE).")
    var baseline: String = ProcessInfo.processInfo.environment["CHARTER_BASELINE"] ?? "seeds/baseline-constitution.json"

    @Option(help: "The only folder a run's model_path may name a model in (env CHARTER_MODELS).")
    var modelsDirectory: String? = ProcessInfo.processInfo.environment["CHARTER_MODELS"]

    @Option(help: "The only folder a run's prompts_path may name a file in (env CHARTER_PROMPTS).")
    var promptsDirectory: String? = ProcessInfo.processInfo.environment["CHARTER_PROMPTS"]

    @Option(
        help:
            "Where pipelines run: 'local' (a subprocess) or 'slurm' (a batch job submitted with sbatch) (env CHARTER_RUN_EXECUTOR)."
    )
    var runExecutor: String = ProcessInfo.processInfo.environment["CHARTER_RUN_EXECUTOR"] ?? "local"

    @Option(help: "Slurm: the partition jobs are submitted to; default: the cluster's (env CHARTER_SLURM_PARTITION).")
    var slurmPartition: String = ProcessInfo.processInfo.environment["CHARTER_SLURM_PARTITION"] ?? ""

    @Option(help: "Slurm: generic resources per job, e.g. gpu:1 (env CHARTER_SLURM_GRES).")
    var slurmGres: String = ProcessInfo.processInfo.environment["CHARTER_SLURM_GRES"] ?? ""

    @Option(
        help:
            "Slurm: the job time limit, as sbatch --time takes it (e.g. 2:00:00); default: the run profile's limit (env CHARTER_SLURM_TIME)."
    )
    var slurmTime: String = ProcessInfo.processInfo.environment["CHARTER_SLURM_TIME"] ?? ""

    @Option(
        name: .customLong("slurm-sbatch-arg"),
        help: "Slurm: one more sbatch option for the job script, e.g. --mem=16G; repeatable.")
    var slurmSbatchArguments: [String] = []

    @Option(help: "Slurm: seconds between looks at a job's state and output (env CHARTER_SLURM_POLL).")
    var slurmPollInterval: Double = ProcessInfo.processInfo.environment["CHARTER_SLURM_POLL"].flatMap(Double.init) ?? 2

    @Option(
        help: "Slurm: the folder holding sbatch, squeue, scontrol and scancel; default: PATH (env CHARTER_SLURM_BIN).")
    var slurmBin: String = ProcessInfo.processInfo.environment["CHARTER_SLURM_BIN"] ?? ""

    @Option(help: "Slurm: the slurm.conf the commands use (sets SLURM_CONF for them; env CHARTER_SLURM_CONF).")
    var slurmConf: String = ProcessInfo.processInfo.environment["CHARTER_SLURM_CONF"] ?? ""

    /// The executor the options name.
    func executor(grace: Duration) throws -> any RunExecutor {
        switch runExecutor {
        case "local":
            return LocalProcessExecutor(grace: grace)
        case "slurm":
            guard slurmPollInterval > 0, slurmPollInterval.isFinite else {
                throw ValidationError("--slurm-poll-interval must be a positive number of seconds.")
            }
            func given(_ value: String) -> String? { value.isEmpty ? nil : value }
            let values = [slurmPartition, slurmGres, slurmTime] + slurmSbatchArguments
            for value in values where value.contains(where: \.isNewline) {
                throw ValidationError("Slurm options are single lines; \(value.debugDescription) is not.")
            }
            for argument in slurmSbatchArguments where !argument.hasPrefix("-") {
                throw ValidationError("--slurm-sbatch-arg takes an sbatch option such as --mem=16G, not \(argument).")
            }
            var commands = SlurmCommands(binDirectory: given(slurmBin))
            if let slurmConf = given(slurmConf) {
                commands.environment["SLURM_CONF"] = URL(fileURLWithPath: slurmConf).standardizedFileURL.path
            }
            return SlurmExecutor(
                settings: SlurmExecutor.Settings(
                    partition: given(slurmPartition), gres: given(slurmGres), time: given(slurmTime),
                    extraArguments: slurmSbatchArguments, pollInterval: .milliseconds(Int64(slurmPollInterval * 1000)),
                    commands: commands))
        default:
            throw ValidationError("--run-executor must be local or slurm.")
        }
    }

    func configuration() throws -> RunConfiguration {
        var configuration = RunConfiguration()
        configuration.runsDirectory = URL(fileURLWithPath: runsDirectory, isDirectory: true).standardizedFileURL
        guard !pipelineCommand.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ValidationError("--pipeline-command must name a command.")
        }
        configuration.pipelineCommand = pipelineCommand
        guard runConcurrency >= 1 else { throw ValidationError("--run-concurrency must be at least 1.") }
        configuration.concurrency = runConcurrency
        for item in runTimeouts.split(separator: ",") {
            let pair = item.split(separator: "=").map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, let profile = RunProfile(rawValue: pair[0]), let minutes = Double(pair[1]),
                minutes > 0
            else { throw ValidationError("--run-timeouts looks like smoke=20,small=120 (minutes per profile).") }
            configuration.timeouts[profile] = .milliseconds(Int64(minutes * 60_000))
        }
        configuration.bbqDirectory = bbqDirectory.isEmpty ? RunConfiguration.defaultBBQDirectory() : bbqDirectory
        configuration.baselinePath = baseline
        configuration.modelsDirectory = modelsDirectory
        configuration.promptsDirectory = promptsDirectory
        return configuration
    }
}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Compare a published constitution with a baseline: train and evaluate both (a comparison run).",
        discussion: """
            Without --wait the run is queued for a running server to execute. With --wait this command \
            executes it itself, printing progress, and exits 0 only if the run succeeded.
            """)

    @Argument(help: "The id of the published constitution version to train on.")
    var constitutionID: Int64

    @Option(help: "The baseline: 'charter' (seeds/), a constitution id, or a constitution JSON file.")
    var against: String = "charter"

    @Option(help: "smoke, small or gpu.")
    var profile: String = "small"

    @Option(help: "The seed for both arms (random when absent).")
    var seed: Int64?

    @Option(name: .customLong("param"), help: "A pipeline parameter as name=value; repeatable.")
    var parameters: [String] = []

    @Flag(help: "Execute the run here and wait for it to finish.")
    var wait = false

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var pipeline: PipelineOptions

    func run() async throws {
        guard let profile = RunProfile(rawValue: profile) else {
            throw ValidationError("--profile must be smoke, small or gpu.")
        }
        var values: [String: RunParameter] = [:]
        for item in parameters {
            let pair = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else { throw ValidationError("--param takes name=value, not \(item).") }
            values[pair[0]] = RunParameter(parsing: pair[1])
        }
        let baseline: BaselineChoice
        if against == "charter" {
            baseline = .charter
        } else if let id = Int64(against) {
            baseline = .constitution(id)
        } else {
            guard let data = FileManager.default.contents(atPath: against) else {
                throw ValidationError("Cannot read the baseline file \(against).")
            }
            baseline = .uploaded(data, name: URL(fileURLWithPath: against).lastPathComponent)
        }
        let store = try await database.open()
        var logger = Logger(label: "charter.runs")
        logger.logLevel = .warning
        let configuration = try pipeline.configuration()
        let service = RunService(
            store: store, configuration: configuration, executor: try pipeline.executor(grace: configuration.grace),
            logger: logger)
        let queued: ComparisonRun
        do {
            queued = try await service.enqueue(
                constitutionID: constitutionID, baseline: baseline, profile: profile, seed: seed, parameters: values,
                by: .system)
        } catch let error as CharterError {
            throw ValidationError(error.message)
        }
        print(
            "Run \(queued.id): constitution \(constitutionID) against \(queued.request.baselineSource), profile \(profile.rawValue), seed \(queued.request.seed)."
        )
        guard wait else {
            print("Queued; a running `charter serve` on this database executes it.")
            return
        }
        let progress = ProgressPrinter()
        let finished = try await service.executeNow(id: queued.id) { event in progress.show(event) }
        let final: ComparisonRun
        if let finished {
            final = finished
        } else {
            // A server took it first: follow it from the database.
            var current = queued
            while !current.state.isFinished {
                try await Task.sleep(for: .seconds(2))
                current = try await store.run(id: queued.id) ?? current
            }
            final = current
        }
        print("Run \(final.id) \(final.state.rawValue)" + (final.failure.map { ": \($0)" } ?? "."))
        if let data = final.results, let results = try? RunResults.parse(data) {
            print(ComparisonTable.render(results))
        }
        if final.state != .succeeded { throw ExitCode.failure }
    }
}

/// Progress lines on the terminal: one per stage change, not one per step.
final class ProgressPrinter: Sendable {
    private let last = Mutex<String>("")

    func show(_ event: PipelineEvent) {
        guard case .progress(let arm, let stage, let step, let of) = event else { return }
        let key = "\(arm ?? "-")/\(stage)"
        let line = "  \(arm ?? "setup") \(stage): \(step)/\(of)"
        let changed = last.withLock { current in
            defer { current = key }
            return current != key || step == of
        }
        if changed { print(line) }
    }
}

/// The comparison table as text.
enum ComparisonTable {
    static func render(_ results: RunResults) -> String {
        var lines = [
            "| metric | base | CCAI | baseline | CCAI − baseline | n | p (Holm) | verdict |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        func number(_ value: Double?, _ interval: [Double]? = nil) -> String {
            guard let value else { return "—" }
            let text = String(format: "%.3f", value)
            guard let interval, interval.count == 2, let low = interval.first, let high = interval.last else {
                return text
            }
            return text + String(format: " [%.3f, %.3f]", low, high)
        }
        for row in results.comparison {
            let verdict = row.verdict ?? row.winner ?? "—"
            lines.append(
                "| \(row.label)\(row.circular ? " (circular)" : "") | \(number(row.base)) | \(number(row.ccai, row.ccaiCI)) "
                    + "| \(number(row.baseline, row.baselineCI)) | \(number(row.difference, row.differenceCI)) "
                    + "| \(row.n.map(String.init) ?? "—") | \(number(row.pHolm)) | \(verdict) |")
        }
        if results.tooSmallToDetect {
            lines.append("\nThis run is too small to detect a difference (no row has 30 items).")
        }
        if let wall = results.wallSeconds { lines.append("\nWall time \(String(format: "%.0f", wall)) s") }
        if let rss = results.peakRSSBytes { lines.append("Peak memory \(String(format: "%.0f", rss / 1_048_576)) MiB") }
        return lines.joined(separator: "\n")
    }
}
