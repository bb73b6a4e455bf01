public import CharterHTTP
import CharterInput
public import CharterPipeline
public import CharterServices
public import CharterStore
import Foundation
public import Logging

/// Everything `charter serve` is configured with, typed and checked: made from the flags and the
/// environment (`ConfigurationInput`) by the settings table, with no I/O.
public struct CharterConfiguration: Sendable {
    public var server: ServerConfiguration
    public var database: DatabaseLocation
    public var secret: SecretSource
    public var runs: RunSettings

    /// Every setting read; the first bad value in the table's order throws.
    public init(_ input: ConfigurationInput) throws(ConfigurationError) {
        try input.check()
        server = try input.server()
        database = try input.database()
        secret = try input.secret()
        runs = try input.runs()
    }
}

/// The HTTP server's settings.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// The folder holding `demo/`.
    public var seedsDirectory: String
    public var logLevel: Logger.Level
    public var http: HTTPConfiguration
    public var analysis: AnalysisService.Configuration
}

/// Where the instance secret comes from: `CHARTER_SECRET`, else the secret file, else (SQLite
/// only) `<database>.secret`; `InstanceSecret.load` reads it.
public struct SecretSource: Sendable, Equatable {
    /// `CHARTER_SECRET`, nil when unset or empty.
    public var environment: String?
    /// `--secret-file` / `CHARTER_SECRET_FILE`.
    public var file: String?

    public init(environment: String?, file: String?) {
        self.environment = environment
        self.file = file
    }
}

/// How comparison runs execute.
public struct RunSettings: Sendable {
    public var configuration: RunConfiguration
    public var executor: RunExecutorChoice
}

/// The executor runs go to, with its settings.
public enum RunExecutorChoice: Sendable {
    case local
    case slurm(SlurmExecutor.Settings)
}

extension ConfigurationInput {
    /// Throws the first setting, in the table's order, whose text is not a value of its kind.
    public func check() throws(ConfigurationError) {
        for setting in Settings.all {
            if let problem = resolve(setting).problems.first { throw problem }
        }
    }

    /// `--database` / `CHARTER_DATABASE`.
    public func database() throws(ConfigurationError) -> DatabaseLocation {
        try value(Settings.database)
    }

    /// `CHARTER_SECRET` and `--secret-file` / `CHARTER_SECRET_FILE`.
    public func secret() throws(ConfigurationError) -> SecretSource {
        SecretSource(environment: try value(Settings.secret), file: try value(Settings.secretFile))
    }

    /// What the HTTP server listens on and how it treats requests.
    public func server() throws(ConfigurationError) -> ServerConfiguration {
        var http = HTTPConfiguration()
        http.publicDirectory = try value(Settings.publicDirectory)
        http.maxBodyBytes = try value(Settings.maxBody)
        http.rateLimits.votesPerParticipant = try value(Settings.voteLimit)
        http.rateLimits.votesPerIP = try value(Settings.voteIPLimit)
        http.rateLimits.statementsPerParticipant = try value(Settings.statementLimit)
        http.rateLimits.statementsPerIP = try value(Settings.statementIPLimit)
        http.rateLimits.participantsPerIP = try value(Settings.participantIPLimit)
        http.trustedProxies = try value(Settings.trustedProxies)
        http.importLimits = ImportLimits(
            maxUncompressedBytes: try value(Settings.importMaxBytes),
            maxCompressionRatio: try value(Settings.importMaxRatio),
            csv: .init(rows: try value(Settings.importMaxRows), columns: try value(Settings.importMaxColumns)))
        http.secureCookies = try value(Settings.secureCookies)
        var analysis = AnalysisService.Configuration()
        analysis.debounce = try value(Settings.analysisInterval)
        let logLevel = try value(Settings.logLevel)
        http.idleTimeout = try value(Settings.idleTimeout)
        http.headerTimeout = try value(Settings.headerTimeout)
        http.bodyTimeout = try value(Settings.bodyTimeout)
        return ServerConfiguration(
            host: try value(Settings.host), port: try value(Settings.port), seedsDirectory: try value(Settings.seeds),
            logLevel: logLevel, http: http, analysis: analysis)
    }

    /// Where runs are made, what runs them and where. BBQ's folder stays nil when it is not
    /// given: the run service looks in the usual places (`RunConfiguration.defaultBBQDirectory`).
    public func runs() throws(ConfigurationError) -> RunSettings {
        var configuration = RunConfiguration()
        configuration.runsDirectory =
            URL(fileURLWithPath: try value(Settings.runsDirectory), isDirectory: true)
            .standardizedFileURL
        configuration.pipelineCommand = try value(Settings.pipelineCommand)
        configuration.concurrency = try value(Settings.runConcurrency)
        configuration.timeouts.merge(try value(Settings.runTimeouts)) { _, given in given }
        configuration.bbqDirectory = try value(Settings.bbqDirectory)
        configuration.baselinePath = try value(Settings.baseline)
        configuration.modelsDirectory = try value(Settings.modelsDirectory)
        configuration.promptsDirectory = try value(Settings.promptsDirectory)
        let kind = try value(Settings.runExecutor)
        // Slurm's settings are checked whichever executor is chosen: a bad one is a mistake either way.
        var commands = SlurmCommands(binDirectory: try value(Settings.slurmBin))
        if let conf = try value(Settings.slurmConf) {
            commands.environment["SLURM_CONF"] = URL(fileURLWithPath: conf).standardizedFileURL.path
        }
        let slurm = SlurmExecutor.Settings(
            partition: try value(Settings.slurmPartition), gres: try value(Settings.slurmGres),
            time: try value(Settings.slurmTime), extraArguments: try values(Settings.slurmSbatchArguments),
            pollInterval: try value(Settings.slurmPollInterval), commands: commands)
        switch kind {
        case .local: return RunSettings(configuration: configuration, executor: .local)
        case .slurm: return RunSettings(configuration: configuration, executor: .slurm(slurm))
        }
    }
}
