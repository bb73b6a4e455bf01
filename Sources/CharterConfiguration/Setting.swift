public import CharterDomain
public import CharterHTTP
public import CharterInput
import CharterPipeline
public import CharterStore
import Foundation
public import Logging

/// One row of the settings table: how a setting is named on the command line and in the
/// environment, its default, what its text must look like and what it is for.
public struct SettingInfo: Sendable, Hashable, CustomStringConvertible {
    /// The setting's name: its flag without the dashes (`vote-limit`), or for a setting only the
    /// environment sets, its variable's name in that form (`secret`).
    public let name: String
    /// `--vote-limit`; nil for a setting only the environment sets (`CHARTER_SECRET`, kept off
    /// command lines that every user of the machine can read).
    public let flag: String?
    /// `CHARTER_VOTE_LIMIT`; nil for a setting only flags set (`--slurm-sbatch-arg`, repeatable).
    public let variable: String?
    /// The text read when neither the flag nor the variable is given; empty is none.
    public let defaultValue: String
    /// The default as people read it, where the text alone does not say it ("<database>.secret").
    public let shownDefault: String
    /// One line on what the setting is for.
    public let help: String
    /// What a good value looks like: "rate/burst such as 5/30, or off".
    public let expected: String
    /// Shown masked in the listing and in messages (the instance secret).
    public let isSecret: Bool
    /// The flag may be given more than once; every occurrence is a value.
    public let isRepeatable: Bool
    /// The problem with a text, or nil when it is a value of the setting's kind.
    let problem: @Sendable (String) -> ValueProblem?

    public static func == (left: SettingInfo, right: SettingInfo) -> Bool { left.name == right.name }
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }
    public var description: String { flag ?? variable ?? name }

    /// The problem with `text` as this setting's value, nil when there is none.
    public func check(_ text: String) -> ValueProblem? { problem(text) }
}

/// A setting whose text becomes a `Value`: one row of the table with its reader.
public struct Setting<Value: Sendable>: Sendable {
    public let info: SettingInfo
    public let kind: ValueKind<Value>

    /// The setting's name, the key of its flag in `ConfigurationInput`.
    public var name: String { info.name }

    init(
        _ name: String, flag: Bool = true, variable: String?, default defaultValue: String = "",
        shown: String? = nil, secret: Bool = false, repeatable: Bool = false, _ kind: ValueKind<Value>, help: String
    ) {
        self.kind = kind
        info = SettingInfo(
            name: name, flag: flag ? "--\(name)" : nil, variable: variable, defaultValue: defaultValue,
            shownDefault: shown ?? (defaultValue.isEmpty ? "none" : defaultValue), help: help,
            expected: kind.expected, isSecret: secret, isRepeatable: repeatable,
            problem: { text in
                if case .failure(let problem) = kind.parse(text) { return problem }
                return nil
            })
    }
}

/// Every setting of `charter serve`, `charter run` and the commands that open the database: the
/// one table that names their flags and environment variables, gives their defaults, parses
/// their values and lists them (`charter config`, README's "Configuration").
public enum Settings {
    // MARK: The server

    public static let host = Setting<String>(
        "host", variable: "CHARTER_HOST", default: "127.0.0.1", .nonEmpty("an address to listen on, such as 0.0.0.0"),
        help: "The address to listen on.")
    public static let port = Setting<Int>(
        "port", variable: "CHARTER_PORT", default: "8080", .port, help: "The port to listen on.")
    public static let database = Setting<DatabaseLocation>(
        "database", variable: "CHARTER_DATABASE", default: "./charter.sqlite", .database,
        help: "The database: a SQLite file or a postgres://user@host:port/db URL.")
    public static let seeds = Setting<String>(
        "seeds", variable: "CHARTER_SEEDS", default: "seeds", .nonEmpty("a folder"),
        help: "The folder holding demo/ (for --seed-demo).")
    public static let publicDirectory = Setting<String>(
        "public-directory", variable: "CHARTER_PUBLIC", default: "Public", .nonEmpty("a folder"),
        help: "The folder of static files served under /static.")
    public static let maxBody = Setting<Int>(
        "max-body", variable: "CHARTER_MAX_BODY", default: "65536", .positive("bytes"),
        help: "The largest request body accepted, in bytes.")
    public static let voteLimit = Setting<RateLimit>(
        "vote-limit", variable: "CHARTER_VOTE_LIMIT", default: "5/30", .rateLimit,
        help: "Votes per participant: rate per second / burst, or off.")
    public static let voteIPLimit = Setting<RateLimit>(
        "vote-ip-limit", variable: "CHARTER_VOTE_IP_LIMIT", default: "300/2000", .rateLimit,
        help: "Votes per IP address: rate per second / burst, or off.")
    public static let statementLimit = Setting<RateLimit>(
        "statement-limit", variable: "CHARTER_STATEMENT_LIMIT", default: "0.1/5", .rateLimit,
        help: "Statements per participant: rate per second / burst, or off.")
    public static let statementIPLimit = Setting<RateLimit>(
        "statement-ip-limit", variable: "CHARTER_STATEMENT_IP_LIMIT", default: "2/60", .rateLimit,
        help: "Statements per IP address: rate per second / burst, or off.")
    public static let participantIPLimit = Setting<RateLimit>(
        "participant-ip-limit", variable: "CHARTER_PARTICIPANT_IP_LIMIT", default: "0.2/30", .rateLimit,
        help: "New participants per address: rate per second / burst, or off.")
    public static let trustedProxies = Setting<[CIDR]>(
        "trusted-proxies", variable: "CHARTER_TRUSTED_PROXIES", .cidrList,
        help: "Reverse proxies whose Forwarded / X-Forwarded-For name the client, as CIDRs separated by commas.")
    public static let importMaxBytes = Setting<Int>(
        "import-max-bytes", variable: "CHARTER_IMPORT_MAX_BYTES", default: "268435456", .positive("bytes"),
        help: "Most bytes an import may unpack to.")
    public static let importMaxRatio = Setting<Int>(
        "import-max-ratio", variable: "CHARTER_IMPORT_MAX_RATIO", default: "50", .positive("times"),
        help: "Most an import's zip entry may inflate, as a ratio.")
    public static let importMaxRows = Setting<Int>(
        "import-max-rows", variable: "CHARTER_IMPORT_MAX_ROWS", default: "10000000", .positive("rows"),
        help: "Most rows of an imported CSV file.")
    public static let importMaxColumns = Setting<Int>(
        "import-max-columns", variable: "CHARTER_IMPORT_MAX_COLUMNS", default: "100000", .positive("columns"),
        help: "Most columns of an imported CSV file.")
    public static let secureCookies = Setting<Bool>(
        "secure-cookies", variable: "CHARTER_SECURE_COOKIES", default: "0", .boolean,
        help: "Mark cookies Secure (serve behind HTTPS); --no-secure-cookies turns it off.")
    public static let analysisInterval = Setting<Duration>(
        "analysis-interval", variable: "CHARTER_ANALYSIS_INTERVAL", default: "5", .seconds,
        help: "Seconds at least between two analyses of one conversation.")
    public static let logLevel = Setting<Logger.Level>(
        "log-level", variable: "CHARTER_LOG_LEVEL", default: "info", .logLevel,
        help: "Log level: trace, debug, info, notice, warning, error or critical.")
    public static let idleTimeout = Setting<Duration>(
        "idle-timeout", variable: "CHARTER_IDLE_TIMEOUT", default: "30", .seconds,
        help: "Seconds a connection may stay silent before it is closed.")
    public static let headerTimeout = Setting<Duration>(
        "header-timeout", variable: "CHARTER_HEADER_TIMEOUT", default: "20", .seconds,
        help: "Seconds a client has to send a whole request head, however steadily it trickles.")
    public static let bodyTimeout = Setting<Duration>(
        "body-timeout", variable: "CHARTER_BODY_TIMEOUT", default: "20", .seconds,
        help: "Seconds a client has to send a request body, plus one per 500 bytes received.")

    // MARK: The instance secret

    public static let secret = Setting<String?>(
        "secret", flag: false, variable: "CHARTER_SECRET", shown: "none: the secret file", secret: true,
        .optional("the instance secret"),
        help: "The instance secret; takes precedence over the secret file. Environment only, never a flag.")
    public static let secretFile = Setting<String?>(
        "secret-file", variable: "CHARTER_SECRET_FILE", shown: "<database>.secret (SQLite only)",
        .optional("a file"), help: "A file holding the instance secret (CHARTER_SECRET takes precedence).")

    // MARK: Comparison runs

    public static let runsDirectory = Setting<String>(
        "runs-directory", variable: "CHARTER_RUNS", default: "runs", .nonEmpty("a folder"),
        help: "The folder run folders are made in.")
    public static let pipelineCommand = Setting<String>(
        "pipeline-command", variable: "CHARTER_PIPELINE_COMMAND", default: "scripts/pipeline/run",
        .nonEmpty("a command, such as scripts/pipeline/run"), help: "The training pipeline command.")
    public static let runConcurrency = Setting<Int>(
        "run-concurrency", variable: "CHARTER_RUN_CONCURRENCY", default: "1", .positive("runs"),
        help: "Runs executing at once.")
    public static let runTimeouts = Setting<[RunProfile: Duration]>(
        "run-timeouts", variable: "CHARTER_RUN_TIMEOUTS", shown: defaultRunTimeouts, .runTimeouts,
        help: "Time limits per profile in minutes, e.g. smoke=20,small=120.")
    public static let bbqDirectory = Setting<String?>(
        "bbq-directory", variable: "CHARTER_BBQ", shown: "../shared/evals/bbq/data if present", .optional("a folder"),
        help: "BBQ's data folder.")
    public static let baseline = Setting<String>(
        "baseline", variable: "CHARTER_BASELINE", default: "seeds/baseline-constitution.json",
        .nonEmpty("a constitution JSON file"), help: "Charter's baseline constitution.")
    public static let modelsDirectory = Setting<String?>(
        "models-directory", variable: "CHARTER_MODELS", shown: "none: no run may name a model by path",
        .optional("a folder"), help: "The only folder a run's model_path may name a model in.")
    public static let promptsDirectory = Setting<String?>(
        "prompts-directory", variable: "CHARTER_PROMPTS", shown: "none: no run may name prompts by path",
        .optional("a folder"), help: "The only folder a run's prompts_path may name a file in.")
    public static let runExecutor = Setting<RunExecutorKind>(
        "run-executor", variable: "CHARTER_RUN_EXECUTOR", default: "local", .executor,
        help: "Where pipelines run: local (a subprocess) or slurm (a batch job submitted with sbatch).")
    public static let slurmPartition = Setting<String?>(
        "slurm-partition", variable: "CHARTER_SLURM_PARTITION", shown: "the cluster's default",
        .singleLine("a partition name (one line)"), help: "Slurm: the partition jobs are submitted to.")
    public static let slurmGres = Setting<String?>(
        "slurm-gres", variable: "CHARTER_SLURM_GRES", .singleLine("generic resources such as gpu:1 (one line)"),
        help: "Slurm: generic resources per job, e.g. gpu:1.")
    public static let slurmTime = Setting<String?>(
        "slurm-time", variable: "CHARTER_SLURM_TIME", shown: "the run profile's limit",
        .singleLine("a time limit as sbatch --time takes it, such as 2:00:00 (one line)"),
        help: "Slurm: the job time limit, as sbatch --time takes it (e.g. 2:00:00).")
    public static let slurmSbatchArguments = Setting<String>(
        "slurm-sbatch-arg", variable: nil, repeatable: true, .sbatchOption,
        help: "Slurm: one more sbatch option for the job script, e.g. --mem=16G; repeatable.")
    public static let slurmPollInterval = Setting<Duration>(
        "slurm-poll-interval", variable: "CHARTER_SLURM_POLL", default: "2", .seconds,
        help: "Slurm: seconds between looks at a job's state and output.")
    public static let slurmBin = Setting<String?>(
        "slurm-bin", variable: "CHARTER_SLURM_BIN", shown: "PATH", .optional("a folder"),
        help: "Slurm: the folder holding sbatch, squeue, scontrol and scancel.")
    public static let slurmConf = Setting<String?>(
        "slurm-conf", variable: "CHARTER_SLURM_CONF", shown: "Slurm's own", .optional("a file"),
        help: "Slurm: the slurm.conf the commands use (sets SLURM_CONF for them).")

    /// RunConfiguration's own time limits, as `--run-timeouts` would give them.
    static var defaultRunTimeouts: String {
        let timeouts = RunConfiguration().timeouts
        return RunProfile.allCases.compactMap { profile in
            timeouts[profile].map { "\(profile.rawValue)=\($0.components.seconds / 60)" }
        }
        .joined(separator: ",")
    }

    /// The table, in the order it is listed.
    public static let all: [SettingInfo] = [
        host.info, port.info, database.info, seeds.info, publicDirectory.info, maxBody.info, voteLimit.info,
        voteIPLimit.info, statementLimit.info, statementIPLimit.info, participantIPLimit.info, trustedProxies.info,
        importMaxBytes.info, importMaxRatio.info, importMaxRows.info, importMaxColumns.info, secureCookies.info,
        analysisInterval.info, logLevel.info, idleTimeout.info, headerTimeout.info, bodyTimeout.info, secret.info,
        secretFile.info, runsDirectory.info, pipelineCommand.info, runConcurrency.info, runTimeouts.info,
        bbqDirectory.info, baseline.info, modelsDirectory.info, promptsDirectory.info, runExecutor.info,
        slurmPartition.info, slurmGres.info, slurmTime.info, slurmSbatchArguments.info, slurmPollInterval.info,
        slurmBin.info, slurmConf.info,
    ]

    /// The setting with this name.
    public static func named(_ name: String) -> SettingInfo? {
        all.first { $0.name == name }
    }

    /// `CHARTER_*` variables that are not settings of the server but of Charter's scripts, tests
    /// and training pipeline (which runs with the server's environment): not reported as unknown.
    public static let otherVariables: Set<String> = [
        "CHARTER_BIN", "CHARTER_FLOOR_BIN", "CHARTER_SCREENSHOT", "CHARTER_SLURM_PORT", "CHARTER_SLURM_TEST_PORT",
        "CHARTER_POSTGRES_SEED", "CHARTER_PIPELINE_CACHE", "CHARTER_PIPELINE_CHILD", "CHARTER_PIPELINE_KEEP_SFT",
        "CHARTER_PIPELINE_LAUNCH", "CHARTER_PIPELINE_PYTHON", "CHARTER_PIPELINE_TORCH", "CHARTER_PIPELINE_VENV",
        "CHARTER_SMOLLM2_WHEEL",
    ]

    /// Families of test and script variables (`CHARTER_FUZZ_SEED`, `CHARTER_PG_USER`, …), not
    /// reported as unknown either.
    public static let otherPrefixes = [
        "CHARTER_TEST_", "CHARTER_FUZZ_", "CHARTER_SCHEMATHESIS_", "CHARTER_CRASH_", "CHARTER_ZIP_BOMB_", "CHARTER_PG_",
    ]
}
