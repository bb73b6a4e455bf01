import ArgumentParser
import CharterConfiguration
import CharterDomain
import CharterPipeline
import CharterStore
import Foundation
import Logging
import Synchronization

/// Where and how comparison runs execute; shared by `serve` and `run`.
struct PipelineOptions: ParsableArguments, SettingFlags {
    @Option(name: .setting(Settings.runsDirectory), help: .setting(Settings.runsDirectory))
    var runsDirectory: String?

    @Option(name: .setting(Settings.pipelineCommand), help: .setting(Settings.pipelineCommand))
    var pipelineCommand: String?

    @Option(name: .setting(Settings.runConcurrency), help: .setting(Settings.runConcurrency))
    var runConcurrency: String?

    @Option(name: .setting(Settings.runTimeouts), help: .setting(Settings.runTimeouts))
    var runTimeouts: String?

    @Option(name: .setting(Settings.bbqDirectory), help: .setting(Settings.bbqDirectory))
    var bbqDirectory: String?

    @Option(name: .setting(Settings.baseline), help: .setting(Settings.baseline))
    var baseline: String?

    @Option(name: .setting(Settings.modelsDirectory), help: .setting(Settings.modelsDirectory))
    var modelsDirectory: String?

    @Option(name: .setting(Settings.promptsDirectory), help: .setting(Settings.promptsDirectory))
    var promptsDirectory: String?

    @Option(name: .setting(Settings.runExecutor), help: .setting(Settings.runExecutor))
    var runExecutor: String?

    @Option(name: .setting(Settings.slurmPartition), help: .setting(Settings.slurmPartition))
    var slurmPartition: String?

    @Option(name: .setting(Settings.slurmGres), help: .setting(Settings.slurmGres))
    var slurmGres: String?

    @Option(name: .setting(Settings.slurmTime), help: .setting(Settings.slurmTime))
    var slurmTime: String?

    @Option(name: .setting(Settings.slurmSbatchArguments), help: .setting(Settings.slurmSbatchArguments))
    var slurmSbatchArguments: [String] = []

    @Option(name: .setting(Settings.slurmPollInterval), help: .setting(Settings.slurmPollInterval))
    var slurmPollInterval: String?

    @Option(name: .setting(Settings.slurmBin), help: .setting(Settings.slurmBin))
    var slurmBin: String?

    @Option(name: .setting(Settings.slurmConf), help: .setting(Settings.slurmConf))
    var slurmConf: String?

    var flags: [String: String?] {
        [
            Settings.runsDirectory.name: runsDirectory, Settings.pipelineCommand.name: pipelineCommand,
            Settings.runConcurrency.name: runConcurrency, Settings.runTimeouts.name: runTimeouts,
            Settings.bbqDirectory.name: bbqDirectory, Settings.baseline.name: baseline,
            Settings.modelsDirectory.name: modelsDirectory, Settings.promptsDirectory.name: promptsDirectory,
            Settings.runExecutor.name: runExecutor, Settings.slurmPartition.name: slurmPartition,
            Settings.slurmGres.name: slurmGres, Settings.slurmTime.name: slurmTime,
            Settings.slurmPollInterval.name: slurmPollInterval, Settings.slurmBin.name: slurmBin,
            Settings.slurmConf.name: slurmConf,
        ]
    }

    var repeatedFlags: [String: [String]] { [Settings.slurmSbatchArguments.name: slurmSbatchArguments] }

    /// The run settings the flags, else the environment, else the defaults give.
    func settings() throws -> RunSettings {
        try configured { () throws(ConfigurationError) in try configurationInput(self).runs() }
    }
}

extension RunSettings {
    /// The executor the settings name.
    func makeExecutor() -> any RunExecutor {
        switch executor {
        case .local: LocalProcessExecutor(grace: configuration.grace)
        case .slurm(let settings): SlurmExecutor(settings: settings)
        }
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
        let settings = try pipeline.settings()
        let store = try await database.open()
        var logger = Logger(label: "charter.runs")
        logger.logLevel = .warning
        let service = RunService(
            store: store, configuration: settings.configuration, executor: settings.makeExecutor(), logger: logger)
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
