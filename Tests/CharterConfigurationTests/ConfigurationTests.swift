import CharterConfiguration
import CharterDomain
import CharterHTTP
import CharterInput
import CharterPipeline
import CharterServices
import CharterStore
import Foundation
import Logging
import Testing

/// A good text for every setting's environment variable, none of them the default. Every
/// variable of the table must have one (`everyVariableHasAnExample`).
private let examples: [String: String] = [
    "CHARTER_HOST": "0.0.0.0", "CHARTER_PORT": "9000", "CHARTER_DATABASE": "postgres://charter@db.example.org/charter",
    "CHARTER_SEEDS": "/srv/seeds", "CHARTER_PUBLIC": "/srv/public", "CHARTER_MAX_BODY": "1024",
    "CHARTER_VOTE_LIMIT": "10/60", "CHARTER_VOTE_IP_LIMIT": "off", "CHARTER_STATEMENT_LIMIT": "1/2",
    "CHARTER_STATEMENT_IP_LIMIT": "3/4", "CHARTER_PARTICIPANT_IP_LIMIT": "0.5/10",
    "CHARTER_TRUSTED_PROXIES": "10.0.0.0/8, ::1/128", "CHARTER_IMPORT_MAX_BYTES": "1000",
    "CHARTER_IMPORT_MAX_RATIO": "7", "CHARTER_IMPORT_MAX_ROWS": "100", "CHARTER_IMPORT_MAX_COLUMNS": "20",
    "CHARTER_SECURE_COOKIES": "1", "CHARTER_ANALYSIS_INTERVAL": "0.5", "CHARTER_LOG_LEVEL": "debug",
    "CHARTER_IDLE_TIMEOUT": "31", "CHARTER_HEADER_TIMEOUT": "21", "CHARTER_BODY_TIMEOUT": "22",
    "CHARTER_SECRET": "an instance secret", "CHARTER_SECRET_FILE": "/etc/charter/secret", "CHARTER_RUNS": "/srv/runs",
    "CHARTER_PIPELINE_COMMAND": "python3 -m pipeline", "CHARTER_RUN_CONCURRENCY": "3",
    "CHARTER_RUN_TIMEOUTS": "smoke=5, gpu=600", "CHARTER_BBQ": "/data/bbq", "CHARTER_BASELINE": "/srv/baseline.json",
    "CHARTER_MODELS": "/models", "CHARTER_PROMPTS": "/prompts", "CHARTER_RUN_EXECUTOR": "slurm",
    "CHARTER_SLURM_PARTITION": "gpu", "CHARTER_SLURM_GRES": "gpu:1", "CHARTER_SLURM_TIME": "3-00:00:00",
    "CHARTER_SLURM_POLL": "7", "CHARTER_SLURM_BIN": "/opt/slurm/bin", "CHARTER_SLURM_CONF": "/etc/slurm/slurm.conf",
]

@Suite struct ConfigurationTests {
    // MARK: Defaults

    @Test func theDefaultsAreTheOnesTheServerHadBefore() throws {
        let configuration = try CharterConfiguration(ConfigurationInput())
        let server = configuration.server
        #expect(server.host == "127.0.0.1")
        #expect(server.port == 8080)
        #expect(server.seedsDirectory == "seeds")
        #expect(server.logLevel == .info)
        #expect(server.analysis.debounce == .seconds(5))
        let http = server.http
        let reference = HTTPConfiguration()
        #expect(http.maxBodyBytes == 64 * 1024)
        #expect(http.publicDirectory == "Public")
        #expect(http.rateLimits == RateLimits())
        #expect(http.rateLimits.votesPerParticipant == RateLimit(rate: 5, burst: 30))
        #expect(http.rateLimits.participantsPerIP == RateLimit(rate: 0.2, burst: 30))
        #expect(http.trustedProxies.isEmpty)
        #expect(http.importLimits == ImportLimits())
        #expect(http.importLimits.maxUncompressedBytes == 256 * 1024 * 1024)
        #expect(http.secureCookies == false)
        #expect(http.idleTimeout == reference.idleTimeout && http.idleTimeout == .seconds(30))
        #expect(http.headerTimeout == .seconds(20))
        #expect(http.bodyTimeout == .seconds(20))
        #expect(configuration.database == .sqlite(path: "./charter.sqlite"))
        #expect(configuration.secret == SecretSource(environment: nil, file: nil))
        let runs = configuration.runs.configuration
        #expect(runs.runsDirectory == URL(fileURLWithPath: "runs", isDirectory: true).standardizedFileURL)
        #expect(runs.pipelineCommand == "scripts/pipeline/run")
        #expect(runs.concurrency == 1)
        #expect(runs.timeouts == RunConfiguration().timeouts)
        #expect(runs.bbqDirectory == nil)
        #expect(runs.baselinePath == "seeds/baseline-constitution.json")
        #expect(runs.modelsDirectory == nil && runs.promptsDirectory == nil)
        guard case .local = configuration.runs.executor else {
            Issue.record("the default executor is not local")
            return
        }
    }

    @Test func everyDefaultIsAValueOfItsKind() {
        for setting in Settings.all where !setting.isRepeatable {
            #expect(setting.check(setting.defaultValue) == nil, "\(setting)")
        }
    }

    // MARK: Precedence

    @Test func aFlagWinsOverTheEnvironmentWhichWinsOverTheDefault() throws {
        let environment = [
            "CHARTER_PORT": "9001", "CHARTER_VOTE_LIMIT": "1/2", "CHARTER_IDLE_TIMEOUT": "11",
            "CHARTER_LOG_LEVEL": "warning", "CHARTER_TRUSTED_PROXIES": "10.0.0.0/8", "CHARTER_RUN_EXECUTOR": "slurm",
            "CHARTER_DATABASE": "/env.sqlite", "CHARTER_SECURE_COOKIES": "1", "CHARTER_RUN_TIMEOUTS": "smoke=1",
            "CHARTER_SECRET_FILE": "/env.secret", "CHARTER_RUN_CONCURRENCY": "2",
        ]
        let flags: [String: String?] = [
            "port": "9002", "vote-limit": "off", "idle-timeout": "12", "log-level": "error",
            "trusted-proxies": "::1/128", "run-executor": "local", "database": "/flag.sqlite", "secure-cookies": "0",
            "run-timeouts": "smoke=2", "secret-file": "/flag.secret", "run-concurrency": "4",
        ]

        let byDefault = try CharterConfiguration(ConfigurationInput())
        let byEnvironment = try CharterConfiguration(ConfigurationInput(environment: environment))
        let byFlag = try CharterConfiguration(ConfigurationInput(flags: flags, environment: environment))

        #expect([byDefault, byEnvironment, byFlag].map(\.server.port) == [8080, 9001, 9002])
        #expect(byEnvironment.server.http.rateLimits.votesPerParticipant == RateLimit(rate: 1, burst: 2))
        #expect(byFlag.server.http.rateLimits.votesPerParticipant == .unlimited)
        #expect(byEnvironment.server.http.idleTimeout == .seconds(11))
        #expect(byFlag.server.http.idleTimeout == .seconds(12))
        #expect([byDefault, byEnvironment, byFlag].map(\.server.logLevel) == [.info, .warning, .error])
        #expect(byEnvironment.server.http.trustedProxies == CIDR.list("10.0.0.0/8"))
        #expect(byFlag.server.http.trustedProxies == CIDR.list("::1/128"))
        #expect(
            [byDefault, byEnvironment, byFlag].map(\.database) == [
                .sqlite(path: "./charter.sqlite"), .sqlite(path: "/env.sqlite"), .sqlite(path: "/flag.sqlite"),
            ])
        #expect([byDefault, byEnvironment, byFlag].map(\.server.http.secureCookies) == [false, true, false])
        #expect(byEnvironment.runs.configuration.timeouts[.smoke] == .seconds(60))
        #expect(byFlag.runs.configuration.timeouts[.smoke] == .seconds(120))
        #expect(byFlag.runs.configuration.timeouts[.gpu] == .seconds(72 * 3600))
        #expect([byDefault, byEnvironment, byFlag].map(\.secret.file) == [nil, "/env.secret", "/flag.secret"])
        #expect([byDefault, byEnvironment, byFlag].map(\.runs.configuration.concurrency) == [1, 2, 4])
        guard case .slurm = byEnvironment.runs.executor, case .local = byFlag.runs.executor else {
            Issue.record("the executor does not follow the precedence")
            return
        }
    }

    @Test func eachSettingSaysWhereItsValueCameFrom() {
        let input = ConfigurationInput(
            flags: ["port": "9002", "host": nil], environment: ["CHARTER_PORT": "9001", "CHARTER_HOST": "::"])
        #expect(input.resolve(Settings.port.info).source == .flag)
        #expect(input.resolve(Settings.host.info).source == .environment)
        #expect(input.resolve(Settings.host.info).text == "::")
        #expect(input.resolve(Settings.voteLimit.info).source == .default)
        #expect(input.resolve(Settings.voteLimit.info).text == "5/30")
    }

    @Test func everyVariableHasAnExample() {
        let variables = Set(Settings.all.compactMap(\.variable))
        #expect(variables == Set(examples.keys))
        #expect(Settings.all.count == Set(Settings.all.map(\.name)).count, "two settings share a name")
        #expect(variables.count == Settings.all.compactMap(\.variable).count, "two settings share a variable")
    }

    /// Iterates the table: each setting's variable alone is read, from the environment, without
    /// a problem; all of them together make a whole configuration.
    @Test func everySettingIsReadFromItsEnvironmentVariable() throws {
        for setting in Settings.all {
            guard let variable = setting.variable, let example = examples[variable] else { continue }
            let resolved = ConfigurationInput(environment: [variable: example]).resolve(setting)
            #expect(resolved.source == .environment, "\(variable)")
            #expect(resolved.text == example, "\(variable)")
            #expect(resolved.problems.isEmpty, "\(variable): \(resolved.problems)")
            #expect(setting.check(example) == nil, "\(variable)")
        }
        let configuration = try CharterConfiguration(ConfigurationInput(environment: examples))
        let server = configuration.server
        #expect(server.host == "0.0.0.0" && server.port == 9000 && server.seedsDirectory == "/srv/seeds")
        #expect(server.logLevel == .debug && server.analysis.debounce == .milliseconds(500))
        #expect(server.http.publicDirectory == "/srv/public" && server.http.maxBodyBytes == 1024)
        #expect(server.http.rateLimits.votesPerParticipant == RateLimit(rate: 10, burst: 60))
        #expect(server.http.rateLimits.votesPerIP == .unlimited)
        #expect(server.http.rateLimits.statementsPerParticipant == RateLimit(rate: 1, burst: 2))
        #expect(server.http.rateLimits.statementsPerIP == RateLimit(rate: 3, burst: 4))
        #expect(server.http.rateLimits.participantsPerIP == RateLimit(rate: 0.5, burst: 10))
        #expect(server.http.trustedProxies == CIDR.list("10.0.0.0/8,::1/128"))
        #expect(server.http.trustedProxies.count == 2)
        #expect(
            server.http.importLimits
                == ImportLimits(
                    maxUncompressedBytes: 1000, maxCompressionRatio: 7, csv: CSV.Limits(rows: 100, columns: 20)))
        #expect(server.http.secureCookies)
        #expect(
            [server.http.idleTimeout, server.http.headerTimeout, server.http.bodyTimeout] == [
                .seconds(31), .seconds(21), .seconds(22),
            ])
        #expect(configuration.database == .postgres(url: "postgres://charter@db.example.org/charter"))
        #expect(configuration.secret == SecretSource(environment: "an instance secret", file: "/etc/charter/secret"))
        let runs = configuration.runs.configuration
        #expect(runs.runsDirectory.path == "/srv/runs")
        #expect(runs.pipelineCommand == "python3 -m pipeline" && runs.concurrency == 3)
        #expect(runs.timeouts == [.smoke: .seconds(300), .small: .seconds(7200), .gpu: .seconds(36000)])
        #expect(runs.bbqDirectory == "/data/bbq" && runs.baselinePath == "/srv/baseline.json")
        #expect(runs.modelsDirectory == "/models" && runs.promptsDirectory == "/prompts")
        guard case .slurm(let slurm) = configuration.runs.executor else {
            Issue.record("CHARTER_RUN_EXECUTOR=slurm did not choose Slurm")
            return
        }
        #expect(slurm.partition == "gpu" && slurm.gres == "gpu:1" && slurm.time == "3-00:00:00")
        #expect(slurm.pollInterval == .seconds(7))
        #expect(slurm.commands.binDirectory == "/opt/slurm/bin")
        #expect(slurm.commands.environment == ["SLURM_CONF": "/etc/slurm/slurm.conf"])
        #expect(slurm.extraArguments.isEmpty)
    }

    @Test func emptyOptionalValuesAreNone() throws {
        let input = ConfigurationInput(environment: [
            "CHARTER_SECRET": "", "CHARTER_MODELS": "", "CHARTER_SLURM_PARTITION": "", "CHARTER_TRUSTED_PROXIES": "",
            "CHARTER_RUN_EXECUTOR": "slurm",
        ])
        let configuration = try CharterConfiguration(input)
        #expect(configuration.secret.environment == nil)
        #expect(configuration.runs.configuration.modelsDirectory == nil)
        #expect(configuration.server.http.trustedProxies.isEmpty)
        guard case .slurm(let slurm) = configuration.runs.executor else {
            Issue.record("not Slurm")
            return
        }
        #expect(slurm.partition == nil)
    }

    @Test func aRepeatableFlagKeepsEveryValueInOrder() throws {
        let input = ConfigurationInput(
            flags: ["run-executor": "slurm"], repeatedFlags: ["slurm-sbatch-arg": ["--mem=64G", "--account=lab"]])
        guard case .slurm(let slurm) = try input.runs().executor else {
            Issue.record("not Slurm")
            return
        }
        #expect(slurm.extraArguments == ["--mem=64G", "--account=lab"])
        #expect(input.resolve(Settings.slurmSbatchArguments.info).source == .flag)
        #expect(ConfigurationInput().resolve(Settings.slurmSbatchArguments.info).texts.isEmpty)
    }

    // MARK: Bad values

    /// A bad text of each kind, from the environment: the message names the variable, the text
    /// and what was expected.
    @Test(arguments: [
        ("CHARTER_PORT", "abc", "expected a port number from 1 to 65535"),
        ("CHARTER_PORT", "0", "expected a port number from 1 to 65535"),
        ("CHARTER_PORT", "65536", "expected a port number from 1 to 65535"),
        ("CHARTER_HOST", "", "expected an address to listen on, such as 0.0.0.0"),
        ("CHARTER_VOTE_LIMIT", "fast", "expected rate/burst such as 5/30, or off"),
        ("CHARTER_STATEMENT_IP_LIMIT", "5/0", "expected rate/burst such as 5/30, or off"),
        ("CHARTER_PARTICIPANT_IP_LIMIT", "0/30", "expected rate/burst such as 5/30, or off"),
        ("CHARTER_TRUSTED_PROXIES", "10.0.0.0/33", "expected CIDRs separated by commas, such as 10.0.0.0/8,::1/128"),
        ("CHARTER_TRUSTED_PROXIES", "proxy.example.org", "expected CIDRs separated by commas"),
        ("CHARTER_MAX_BODY", "-1", "expected a whole number of bytes, at least 1"),
        ("CHARTER_IMPORT_MAX_ROWS", "1e6", "expected a whole number of rows, at least 1"),
        ("CHARTER_RUN_CONCURRENCY", "0", "expected a whole number of runs, at least 1"),
        ("CHARTER_IDLE_TIMEOUT", "0", "expected a positive number of seconds, such as 30 or 0.5"),
        ("CHARTER_BODY_TIMEOUT", "inf", "expected a positive number of seconds"),
        ("CHARTER_ANALYSIS_INTERVAL", "soon", "expected a positive number of seconds"),
        ("CHARTER_SLURM_POLL", "-2", "expected a positive number of seconds"),
        (
            "CHARTER_LOG_LEVEL", "verbose",
            "expected a log level: trace, debug, info, notice, warning, error or critical"
        ),
        ("CHARTER_RUN_EXECUTOR", "kubernetes", "expected local or slurm"),
        ("CHARTER_RUN_TIMEOUTS", "smoke:20", "expected minutes per profile such as smoke=20,small=120"),
        ("CHARTER_RUN_TIMEOUTS", "huge=20", "expected minutes per profile such as smoke=20,small=120"),
        ("CHARTER_RUN_TIMEOUTS", "small=-1", "expected minutes per profile such as smoke=20,small=120"),
        ("CHARTER_SECURE_COOKIES", "maybe", "expected 1 or 0 (or true/false, yes/no, on/off)"),
        ("CHARTER_PIPELINE_COMMAND", "  ", "expected a command, such as scripts/pipeline/run"),
        ("CHARTER_RUNS", "", "expected a folder"),
        ("CHARTER_SLURM_GRES", "gpu:1\n#SBATCH --wrap=x", "expected generic resources such as gpu:1 (one line)"),
        ("CHARTER_DATABASE", "mysql://x/y", "Unknown database scheme \"mysql\""),
        ("CHARTER_DATABASE", "", "No database was given."),
    ])
    func aBadValueNamesItsVariableAndWhatIsExpected(variable: String, text: String, expected: String) throws {
        let input = ConfigurationInput(environment: [variable: text])
        let error = #expect(throws: ConfigurationError.self) { try CharterConfiguration(input) }
        let origin = "\(variable)=\(String(reflecting: text))"
        #expect(error?.source == .environment)
        #expect(error?.origin == origin)
        #expect(error?.description.hasPrefix(origin + ": ") == true, "\(String(describing: error))")
        #expect(error?.description.contains(expected) == true, "\(String(describing: error))")
        let setting = try #require(Settings.all.first { $0.variable == variable })
        #expect(error?.setting == setting.name)
        // The listing shows the same problem, and carries on past it.
        #expect(input.listing().problems.map(\.description) == [error?.description])
    }

    @Test func theMessagesReadAsDocumented() {
        let port = #expect(throws: ConfigurationError.self) {
            try CharterConfiguration(ConfigurationInput(environment: ["CHARTER_PORT": "abc"]))
        }
        #expect(port?.description == #"CHARTER_PORT="abc": expected a port number from 1 to 65535"#)
        let voteLimit = #expect(throws: ConfigurationError.self) {
            try ConfigurationInput(flags: ["vote-limit": "fast"]).server()
        }
        #expect(voteLimit?.description == #"--vote-limit "fast": expected rate/burst such as 5/30, or off"#)
        #expect(voteLimit?.source == .flag)
    }

    @Test func aBadFlagIsReportedEvenWhenTheEnvironmentIsGood() {
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigurationInput(flags: ["idle-timeout": "-5"], environment: ["CHARTER_IDLE_TIMEOUT": "5"]).server()
        }
        #expect(error?.description == #"--idle-timeout "-5": expected a positive number of seconds, such as 30 or 0.5"#)
    }

    @Test func aBadSbatchArgumentIsRefusedWhicheverTheExecutor() {
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigurationInput(repeatedFlags: ["slurm-sbatch-arg": ["--mem=1G", "mem=1G"]]).runs()
        }
        #expect(
            error?.description
                == #"--slurm-sbatch-arg "mem=1G": expected an sbatch option such as --mem=16G (one line, starting with -)"#
        )
        #expect(throws: ConfigurationError.self) {
            try ConfigurationInput(repeatedFlags: ["slurm-sbatch-arg": ["--mem=1G\nrm -rf /"]]).runs()
        }
    }

    @Test func theFirstBadValueInTheTablesOrderIsTheOneReported() {
        let error = #expect(throws: ConfigurationError.self) {
            try CharterConfiguration(
                ConfigurationInput(environment: ["CHARTER_SLURM_POLL": "x", "CHARTER_PORT": "x", "CHARTER_HOST": ""]))
        }
        #expect(error?.setting == "host")
        let listing = ConfigurationInput(environment: ["CHARTER_SLURM_POLL": "x", "CHARTER_PORT": "x"]).listing()
        #expect(listing.problems.map(\.setting) == ["port", "slurm-poll-interval"])
    }

    // MARK: Unknown variables

    @Test func anUnknownCharterVariableIsReportedWithTheNearestSetting() {
        let input = ConfigurationInput(environment: [
            "CHARTER_PROT": "9000", "CHARTER_VOTE_LIMT": "off", "CHARTER_SECERT": "x", "CHARTER_PORT": "9000",
            "PATH": "/usr/bin", "CHARTERPORT": "1",
        ])
        #expect(
            input.unknownVariables() == [
                UnknownVariable(name: "CHARTER_PROT", suggestion: "CHARTER_PORT"),
                UnknownVariable(name: "CHARTER_SECERT", suggestion: "CHARTER_SECRET"),
                UnknownVariable(name: "CHARTER_VOTE_LIMT", suggestion: "CHARTER_VOTE_LIMIT"),
            ])
        #expect(
            input.unknownVariables().first?.description
                == "CHARTER_PROT is not a Charter setting and is ignored; did you mean CHARTER_PORT?")
        let text = input.listing().text
        #expect(text.contains("Unknown environment variables:"))
        #expect(text.contains("CHARTER_PROT is not a Charter setting and is ignored; did you mean CHARTER_PORT?"))
    }

    @Test func theVariablesOfCharterScriptsAndTestsAreNotUnknown() {
        let input = ConfigurationInput(environment: [
            "CHARTER_BIN": "/x", "CHARTER_TEST_POSTGRES_URL": "postgres://x/y", "CHARTER_FUZZ_SEED": "1",
            "CHARTER_PIPELINE_CACHE": "/cache", "CHARTER_PG_USER": "pg", "CHARTER_CRASH_RUNS": "3",
        ])
        #expect(input.unknownVariables().isEmpty)
    }

    // MARK: The listing

    @Test func theListingShowsEverySettingItsValueAndSource() {
        let input = ConfigurationInput(flags: ["port": "9002"], environment: ["CHARTER_VOTE_LIMIT": "off"])
        let listing = input.listing()
        #expect(listing.rows.map(\.resolved.setting) == Settings.all)
        #expect(listing.problems.isEmpty && listing.unknownVariables.isEmpty)
        let lines = listing.text.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(lines.first == ["FLAG", "ENVIRONMENT", "SOURCE", "VALUE"])
        #expect(lines.contains(["--port", "CHARTER_PORT", "flag", "9002"]))
        #expect(lines.contains(["--vote-limit", "CHARTER_VOTE_LIMIT", "env", "off"]))
        #expect(lines.contains(["--host", "CHARTER_HOST", "default", "127.0.0.1"]))
        #expect(lines.contains(["--slurm-sbatch-arg", "-", "default", "(none)"]))
        #expect(lines.count == Settings.all.count + 1)
    }

    @Test func secretsAreMaskedInTheListing() {
        let input = ConfigurationInput(environment: [
            "CHARTER_SECRET": "s3cret-instance-key", "CHARTER_DATABASE": "postgres://charter:pa55word@db:5432/charter",
        ])
        let listing = input.listing()
        #expect(!listing.text.contains("s3cret-instance-key"))
        #expect(!listing.text.contains("pa55word"))
        let secret = listing.rows.first { $0.resolved.setting == Settings.secret.info }
        #expect(secret?.value == "(hidden)")
        #expect(secret?.resolved.source == .environment)
        let database = listing.rows.first { $0.resolved.setting == Settings.database.info }
        #expect(database?.value == "postgres://charter:***@db:5432/charter")
        // Unset, the secret's row says where it comes from instead.
        let unset = ConfigurationInput().listing().rows.first { $0.resolved.setting == Settings.secret.info }
        #expect(unset?.value == "(none: the secret file)")
    }

    @Test func theReadmeShowsTheTableAsItIs() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        #expect(text.contains(Settings.markdownTable + "\n"), "README.md's table differs: charter config --markdown")
    }

    @Test func aBadDatabaseURLsPasswordIsHiddenInTheMessage() {
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigurationInput(flags: ["database": "postgres://charter:pa55word@db:5432/"]).database()
        }
        #expect(error?.description.contains("pa55word") == false, "\(String(describing: error))")
        #expect(error?.description.hasPrefix(#"--database "postgres://charter:***@db:5432/""#) == true)
    }
}
