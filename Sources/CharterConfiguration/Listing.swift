import Foundation

/// A `CHARTER_*` environment variable that names no setting (a typo, most likely), with the
/// known variable nearest to it.
public struct UnknownVariable: Sendable, Equatable, CustomStringConvertible {
    public let name: String
    /// The setting's variable nearest to `name` (fewest letters added, removed or changed).
    public let suggestion: String

    public init(name: String, suggestion: String) {
        self.name = name
        self.suggestion = suggestion
    }

    public var description: String {
        "\(name) is not a Charter setting and is ignored; did you mean \(suggestion)?"
    }
}

/// Every setting with its effective value and where it came from, the values that are wrong,
/// and the unknown `CHARTER_*` variables: what `charter config` prints.
public struct SettingListing: Sendable {
    public struct Row: Sendable {
        public let resolved: ResolvedSetting
        /// The value as shown: secrets hidden, a database URL's password hidden, a default that
        /// is worked out at start described.
        public let value: String
        public let problems: [ConfigurationError]
    }

    public let rows: [Row]
    public let unknownVariables: [UnknownVariable]

    /// Every bad value, in the table's order.
    public var problems: [ConfigurationError] { rows.flatMap(\.problems) }

    /// The listing as aligned columns (flag, environment variable, source, value), then the
    /// unknown variables and the bad values, if any.
    public var text: String {
        let header = ["FLAG", "ENVIRONMENT", "SOURCE", "VALUE"]
        let cells = rows.map { row in
            [
                row.resolved.setting.flag ?? "-", row.resolved.setting.variable ?? "-", row.resolved.source.rawValue,
                row.value,
            ]
        }
        let widths = (0..<3).map { column in ([header] + cells).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            let padded = (0..<3).map { cells[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
            return (padded + [cells[3]]).joined(separator: "  ")
        }
        var lines = [line(header)] + cells.map(line)
        if !unknownVariables.isEmpty {
            lines.append("")
            lines.append("Unknown environment variables:")
            lines += unknownVariables.map { "  \($0)" }
        }
        if !problems.isEmpty {
            lines.append("")
            lines.append("Bad values:")
            lines += problems.map { "  \($0)" }
        }
        return lines.joined(separator: "\n")
    }
}

extension ConfigurationInput {
    /// The `CHARTER_*` variables of the environment that are neither a setting nor one of
    /// Charter's scripts' and tests' own, sorted, each with the nearest setting's variable.
    public func unknownVariables() -> [UnknownVariable] {
        let known = Settings.all.compactMap(\.variable)
        return environment.keys.filter { name in
            name.hasPrefix("CHARTER_") && !known.contains(name) && !Settings.otherVariables.contains(name)
                && !Settings.otherPrefixes.contains { name.hasPrefix($0) }
        }
        .sorted()
        .map { name in
            let nearest = known.min { editDistance(name, $0) < editDistance(name, $1) } ?? ""
            return UnknownVariable(name: name, suggestion: nearest)
        }
    }

    /// Every setting, its value and where it came from, without stopping at a bad one.
    public func listing() -> SettingListing {
        let rows = Settings.all.map { setting in
            let resolved = resolve(setting)
            return SettingListing.Row(
                resolved: resolved, value: Self.shownValue(resolved), problems: resolved.problems)
        }
        return SettingListing(rows: rows, unknownVariables: unknownVariables())
    }

    static func shownValue(_ resolved: ResolvedSetting) -> String {
        if resolved.text.isEmpty {
            return resolved.source == .default ? "(\(resolved.setting.shownDefault))" : "(none)"
        }
        let shown = resolved.shownText
        return shown.contains(where: { $0.isNewline || $0 == "\t" }) ? ResolvedSetting.quoted(shown) : shown
    }
}

/// Levenshtein distance: the fewest characters added, removed or changed to turn one into the other.
func editDistance(_ left: String, _ right: String) -> Int {
    let a = Array(left)
    let b = Array(right)
    guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}

extension Settings {
    /// The table as Markdown (flag, environment variable, default, meaning): README.md's
    /// "Configuration" section, printed by `charter config --markdown`.
    public static var markdownTable: String {
        var lines = ["| flag | environment variable | default | meaning |", "|---|---|---|---|"]
        for setting in all {
            let flag = setting.flag.map { "`\($0)`" } ?? "—"
            let variable = setting.variable.map { "`\($0)`" } ?? "—"
            let shown =
                setting.defaultValue.isEmpty
                ? setting.shownDefault.replacingOccurrences(of: "<", with: "\\<") : "`\(setting.shownDefault)`"
            lines.append("| \(flag) | \(variable) | \(shown) | \(setting.help) |")
        }
        return lines.joined(separator: "\n")
    }
}
