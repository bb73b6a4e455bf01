import Foundation

/// Where a setting's value came from.
public enum SettingSource: String, Sendable, CaseIterable {
    /// A command-line flag.
    case flag
    /// A `CHARTER_*` environment variable.
    case environment = "env"
    /// The setting's default.
    case `default`
}

/// A setting whose text is not a value of its kind: where the text came from and what was
/// expected, e.g. `CHARTER_PORT="abc": expected a port number from 1 to 65535`.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The setting's name (`port`).
    public let setting: String
    public let source: SettingSource
    /// The flag or variable and the text it gave: `CHARTER_PORT="abc"`, `--vote-limit "fast"`
    /// (a secret's text is hidden, and a password in a database URL).
    public let origin: String
    /// What is wrong: "expected a port number from 1 to 65535".
    public let problem: String

    public var description: String { "\(origin): \(problem)" }
}

/// The raw text of every setting as it was given: the flags a command was given and the
/// process's environment. Nothing is read from anywhere else; the typed configuration is made
/// from this alone (`CharterConfiguration`, or the part a command needs).
public struct ConfigurationInput: Sendable {
    /// The flags given, by setting name (`vote-limit`), each with every value it was given in
    /// order (one, except for a repeatable flag).
    public private(set) var flags: [String: [String]]
    /// The environment (only `CHARTER_*` variables are read).
    public let environment: [String: String]

    /// `flags` by setting name, nil for a flag not given; `repeatedFlags` for the flags that may
    /// be given more than once.
    public init(
        flags: [String: String?] = [:], repeatedFlags: [String: [String]] = [:], environment: [String: String] = [:]
    ) {
        self.flags = repeatedFlags.filter { !$0.value.isEmpty }
        for (name, value) in flags {
            if let value { self.flags[name] = [value] }
        }
        self.environment = environment
        for name in self.flags.keys {
            precondition(Settings.named(name)?.flag != nil, "\(name) is not a flag of the settings table")
        }
    }

    /// A setting's text and where it came from: the flag, else the environment variable, else
    /// the default. The one place the precedence is decided.
    public func resolve(_ setting: SettingInfo) -> ResolvedSetting {
        if setting.flag != nil, let given = flags[setting.name], !given.isEmpty {
            return ResolvedSetting(setting: setting, source: .flag, texts: setting.isRepeatable ? given : [given.last!])
        }
        if let variable = setting.variable, let text = environment[variable] {
            return ResolvedSetting(setting: setting, source: .environment, texts: [text])
        }
        return ResolvedSetting(
            setting: setting, source: .default, texts: setting.isRepeatable ? [] : [setting.defaultValue])
    }

    /// The setting's value, or an error naming where its text came from and what was expected.
    public func value<Value>(_ setting: Setting<Value>) throws(ConfigurationError) -> Value {
        precondition(!setting.info.isRepeatable, "\(setting.info.name) is repeatable: read its values")
        let resolved = resolve(setting.info)
        return try resolved.parse(resolved.text, setting.kind)
    }

    /// Every value of a repeatable setting, in order.
    public func values<Value>(_ setting: Setting<Value>) throws(ConfigurationError) -> [Value] {
        let resolved = resolve(setting.info)
        var values: [Value] = []
        for text in resolved.texts {
            values.append(try resolved.parse(text, setting.kind))
        }
        return values
    }
}

/// A setting's text as resolved, and where it came from.
public struct ResolvedSetting: Sendable {
    public let setting: SettingInfo
    public let source: SettingSource
    /// The texts: one, or for a repeatable flag every value given (none by default).
    public let texts: [String]

    /// The text (a repeatable flag's values separated by spaces).
    public var text: String { texts.joined(separator: " ") }

    /// The text as it may be shown: a secret hidden, a password in a database URL hidden.
    public var shownText: String { Self.shown(text, of: setting) }

    /// The problems with the texts, none when every one is a value of the setting's kind.
    public var problems: [ConfigurationError] {
        texts.compactMap { text in
            setting.check(text).map { problem in error(text, problem) }
        }
    }

    /// Where a text came from, as messages name it: `CHARTER_PORT="abc"`, `--port "abc"`.
    public func origin(_ text: String) -> String {
        let quoted = Self.quoted(Self.shown(text, of: setting))
        switch source {
        case .flag: return "\(setting.flag ?? setting.name) \(quoted)"
        case .environment: return "\(setting.variable ?? setting.name)=\(quoted)"
        case .default: return "the default of \(setting) \(quoted)"
        }
    }

    func parse<Value>(_ text: String, _ kind: ValueKind<Value>) throws(ConfigurationError) -> Value {
        switch kind.parse(text) {
        case .success(let value): return value
        case .failure(let problem): throw error(text, problem)
        }
    }

    private func error(_ text: String, _ problem: ValueProblem) -> ConfigurationError {
        ConfigurationError(setting: setting.name, source: source, origin: origin(text), problem: problem.message)
    }

    /// A secret as "(hidden)" (or empty), a URL's password as `***`; other texts as they are.
    static func shown(_ text: String, of setting: SettingInfo) -> String {
        if setting.isSecret { return text.isEmpty ? "" : "(hidden)" }
        return redactingPassword(text)
    }

    /// The text in double quotes, with quotes, backslashes and control characters escaped.
    static func quoted(_ text: String) -> String {
        String(reflecting: text)
    }

    /// `postgres://user:secret@host/db` as `postgres://user:***@host/db`; other texts as they are.
    static func redactingPassword(_ text: String) -> String {
        guard text.contains("://"), var components = URLComponents(string: text), components.password != nil else {
            guard let at = text.range(of: "@", options: .backwards), let scheme = text.range(of: "://"),
                scheme.upperBound < at.lowerBound,
                let colon = text[scheme.upperBound..<at.lowerBound].firstIndex(of: ":")
            else { return text }
            // Not a URL URLComponents reads, but it has user:password@: hide the password anyway.
            return String(text[..<text.index(after: colon)]) + "***" + String(text[at.lowerBound...])
        }
        components.password = "***"
        return components.string ?? text
    }
}
