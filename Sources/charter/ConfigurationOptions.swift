import ArgumentParser
import CharterConfiguration
import Foundation

/// An option group whose flags are settings of the table (`Settings`): it hands their raw
/// values, by setting name, to `ConfigurationInput`, which applies the precedence (flag, then
/// `CHARTER_*` variable, then default) and parses them.
protocol SettingFlags {
    /// The single-valued flags, nil where not given.
    var flags: [String: String?] { get }
    /// The flags that may be given more than once.
    var repeatedFlags: [String: [String]] { get }
}

extension SettingFlags {
    var repeatedFlags: [String: [String]] { [:] }
}

/// The input of the configuration: the flags of `groups` and this process's environment.
func configurationInput(_ groups: any SettingFlags...) -> ConfigurationInput {
    var flags: [String: String?] = [:]
    var repeated: [String: [String]] = [:]
    for group in groups {
        flags.merge(group.flags) { _, new in new }
        repeated.merge(group.repeatedFlags) { _, new in new }
    }
    return ConfigurationInput(flags: flags, repeatedFlags: repeated, environment: ProcessInfo.processInfo.environment)
}

/// The value `body` reads from the configuration; a bad setting is a `ValidationError` naming
/// it, so the command stops with the message on stderr and a non-zero status.
func configured<Value>(_ body: () throws(ConfigurationError) -> Value) throws -> Value {
    do {
        return try body()
    } catch {
        throw ValidationError(error.description)
    }
}

extension NameSpecification {
    /// The setting's flag (`--vote-limit`).
    static func setting<Value>(_ setting: Setting<Value>) -> NameSpecification {
        .customLong(setting.name)
    }
}

extension ArgumentHelp {
    /// The setting's line of help, with its environment variable and default.
    static func setting<Value>(_ setting: Setting<Value>) -> ArgumentHelp {
        let info = setting.info
        var notes = info.variable.map { ["env \($0)"] } ?? []
        notes.append("default: \(info.shownDefault)")
        let help = info.help.hasSuffix(".") ? String(info.help.dropLast()) : info.help
        return ArgumentHelp("\(help) (\(notes.joined(separator: "; "))).")
    }
}

/// The HTTP server's settings (`charter serve`, `charter config`).
struct ServerOptions: ParsableArguments, SettingFlags {
    @Option(name: .setting(Settings.host), help: .setting(Settings.host))
    var host: String?

    @Option(name: .setting(Settings.port), help: .setting(Settings.port))
    var port: String?

    @Option(name: .setting(Settings.seeds), help: .setting(Settings.seeds))
    var seeds: String?

    @Option(name: .setting(Settings.publicDirectory), help: .setting(Settings.publicDirectory))
    var publicDirectory: String?

    @Option(name: .setting(Settings.maxBody), help: .setting(Settings.maxBody))
    var maxBody: String?

    @Option(name: .setting(Settings.voteLimit), help: .setting(Settings.voteLimit))
    var voteLimit: String?

    @Option(name: .setting(Settings.voteIPLimit), help: .setting(Settings.voteIPLimit))
    var voteIPLimit: String?

    @Option(name: .setting(Settings.statementLimit), help: .setting(Settings.statementLimit))
    var statementLimit: String?

    @Option(name: .setting(Settings.statementIPLimit), help: .setting(Settings.statementIPLimit))
    var statementIPLimit: String?

    @Option(name: .setting(Settings.participantIPLimit), help: .setting(Settings.participantIPLimit))
    var participantIPLimit: String?

    @Option(name: .setting(Settings.trustedProxies), help: .setting(Settings.trustedProxies))
    var trustedProxies: String?

    @Option(name: .setting(Settings.importMaxBytes), help: .setting(Settings.importMaxBytes))
    var importMaxBytes: String?

    @Option(name: .setting(Settings.importMaxRatio), help: .setting(Settings.importMaxRatio))
    var importMaxRatio: String?

    @Option(name: .setting(Settings.importMaxRows), help: .setting(Settings.importMaxRows))
    var importMaxRows: String?

    @Option(name: .setting(Settings.importMaxColumns), help: .setting(Settings.importMaxColumns))
    var importMaxColumns: String?

    @Flag(name: .setting(Settings.secureCookies), inversion: .prefixedNo, help: .setting(Settings.secureCookies))
    var secureCookies: Bool?

    @Option(name: .setting(Settings.analysisInterval), help: .setting(Settings.analysisInterval))
    var analysisInterval: String?

    @Option(name: .setting(Settings.logLevel), help: .setting(Settings.logLevel))
    var logLevel: String?

    @Option(name: .setting(Settings.idleTimeout), help: .setting(Settings.idleTimeout))
    var idleTimeout: String?

    @Option(name: .setting(Settings.headerTimeout), help: .setting(Settings.headerTimeout))
    var headerTimeout: String?

    @Option(name: .setting(Settings.bodyTimeout), help: .setting(Settings.bodyTimeout))
    var bodyTimeout: String?

    var flags: [String: String?] {
        [
            Settings.host.name: host, Settings.port.name: port, Settings.seeds.name: seeds,
            Settings.publicDirectory.name: publicDirectory, Settings.maxBody.name: maxBody,
            Settings.voteLimit.name: voteLimit, Settings.voteIPLimit.name: voteIPLimit,
            Settings.statementLimit.name: statementLimit, Settings.statementIPLimit.name: statementIPLimit,
            Settings.participantIPLimit.name: participantIPLimit, Settings.trustedProxies.name: trustedProxies,
            Settings.importMaxBytes.name: importMaxBytes, Settings.importMaxRatio.name: importMaxRatio,
            Settings.importMaxRows.name: importMaxRows, Settings.importMaxColumns.name: importMaxColumns,
            Settings.secureCookies.name: secureCookies.map { $0 ? "1" : "0" },
            Settings.analysisInterval.name: analysisInterval, Settings.logLevel.name: logLevel,
            Settings.idleTimeout.name: idleTimeout, Settings.headerTimeout.name: headerTimeout,
            Settings.bodyTimeout.name: bodyTimeout,
        ]
    }
}

/// Where the instance secret comes from, besides `CHARTER_SECRET` (never a flag).
struct SecretOptions: ParsableArguments, SettingFlags {
    @Option(name: .setting(Settings.secretFile), help: .setting(Settings.secretFile))
    var secretFile: String?

    var flags: [String: String?] { [Settings.secretFile.name: secretFile] }
}

struct Config: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List every setting with its effective value and where it came from (flag, env or default).",
        discussion: """
            Takes the flags `charter serve` takes and reads the same CHARTER_* environment variables. \
            Secrets are hidden. Unknown CHARTER_* variables (typos) are listed with the nearest setting. \
            Exits non-zero when a value is not valid, naming it and what is expected.
            """)

    @Flag(help: "Print the table of settings (flag, environment variable, default, meaning) as Markdown instead.")
    var markdown = false

    @OptionGroup var server: ServerOptions
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var secretSource: SecretOptions
    @OptionGroup var pipeline: PipelineOptions

    func run() async throws {
        if markdown {
            print(Settings.markdownTable)
            return
        }
        let listing = configurationInput(server, database, secretSource, pipeline).listing()
        print(listing.text)
        if !listing.problems.isEmpty { throw ExitCode.failure }
    }
}
