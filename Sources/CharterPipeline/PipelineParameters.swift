public import CharterDomain
public import Foundation

/// The pipeline's own list of parameters (`charter_pipeline/parameters.json` beside the
/// reference pipeline's `run`, which its `profiles.py` reads too): each parameter's type, its
/// default per profile, its allowed values and a line of help, and each profile's estimate of
/// how long it takes. Charter builds its run form from it and checks a run's parameters
/// against it before queueing the run, so that an unknown name or a value of the wrong type
/// is refused at once instead of failing the run when the pipeline starts.
public struct PipelineParameters: Sendable, Equatable, Decodable {
    public static let schemaName = "charter.pipeline-parameters/1"

    public var schema: String
    public var profiles: [Profile]
    public var parameters: [Parameter]

    public struct Profile: Sendable, Equatable, Decodable {
        public var name: String
        public var summary: String
        /// How long a run takes, in words, as documented by the pipeline.
        public var estimate: String
    }

    public enum Kind: String, Sendable, Equatable, Decodable {
        case integer, number, boolean, string
        /// A string or nothing (null): a file or folder on the server.
        case path
    }

    /// A default: the manifest's values, or null (no value) for a path.
    public enum Value: Sendable, Equatable, Decodable, CustomStringConvertible {
        case none
        case value(RunParameter)

        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            self = container.decodeNil() ? .none : .value(try container.decode(RunParameter.self))
        }

        public var description: String {
            switch self {
            case .none: "none"
            case .value(let value): value.description
            }
        }
    }

    public struct Parameter: Sendable, Equatable, Decodable {
        public var name: String
        public var type: Kind
        public var section: String
        public var `default`: Value
        /// Profiles whose default differs from `default`.
        public var profiles: [String: Value]?
        public var choices: [String]?
        public var minimum: Double?
        public var exclusiveMinimum: Double?
        public var exclusiveMaximum: Double?
        /// Values left out of the range (`sft_max_steps`: -1 or at least 1, never 0).
        public var excluded: [Double]?
        /// Profiles that need a value (`gpu` needs `model_path`).
        public var requiredBy: [String]?
        public var help: String

        enum CodingKeys: String, CodingKey {
            case name, type, section, `default`, profiles, choices, minimum, excluded, help
            case exclusiveMinimum = "exclusive_minimum"
            case exclusiveMaximum = "exclusive_maximum"
            case requiredBy = "required_by"
        }

        /// The default under a profile.
        public func defaultValue(_ profile: RunProfile) -> Value {
            profiles?[profile.rawValue] ?? `default`
        }

        /// The allowed values of a number, in words ("at least 1", "in (0, 1)"), as the
        /// pipeline says them; nil for other types or an unbounded number.
        public var range: String? {
            guard type == .integer || type == .number else { return nil }
            func text(_ value: Double) -> String { RunParameter.number(value).description }
            if minimum == -1, excluded == [0] { return "-1 or at least 1" }
            if minimum == -1 { return "-1 (all), 0 (skip) or more" }
            if let exclusiveMaximum {
                let start = minimum.map { "[\(text($0))" } ?? exclusiveMinimum.map { "(\(text($0))" } ?? "(-∞"
                return "in \(start), \(text(exclusiveMaximum)))"
            }
            if let exclusiveMinimum { return "more than \(text(exclusiveMinimum))" }
            return minimum.map { "at least \(text($0))" }
        }

        /// Why `value` is not allowed, or nil when it is.
        public func problem(with value: RunParameter) -> String? {
            switch (type, value) {
            case (.boolean, .bool), (.string, .string), (.path, .string): break
            case (.integer, .number(let number)) where number.rounded() == number && abs(number) < 1e15: break
            case (.number, .number): break
            case (.boolean, _): return "\(name) must be true or false, not \(Self.shown(value))."
            case (.integer, _): return "\(name) must be a whole number, not \(Self.shown(value))."
            case (.number, _): return "\(name) must be a number, not \(Self.shown(value))."
            case (.string, _), (.path, _): return "\(name) must be text, not \(Self.shown(value))."
            }
            if let choices, case .string(let text) = value, !choices.contains(text) {
                return "\(name) must be one of \(choices.joined(separator: ", ")), not \(Self.shown(value))."
            }
            if case .number(let number) = value, let range {
                let outside =
                    (minimum.map { number < $0 } ?? false) || (exclusiveMinimum.map { number <= $0 } ?? false)
                    || (exclusiveMaximum.map { number >= $0 } ?? false) || (excluded ?? []).contains(number)
                if outside { return "\(name) must be \(range), not \(value)." }
            }
            return nil
        }

        static func shown(_ value: RunParameter) -> String {
            switch value {
            case .string(let text): "\"\(text.prefix(80))\""
            default: value.description
            }
        }
    }

    public func parameter(_ name: String) -> Parameter? {
        parameters.first { $0.name == name }
    }

    public func profile(_ profile: RunProfile) -> Profile? {
        profiles.first { $0.name == profile.rawValue }
    }

    /// The sections in the order the table first names them, each with its parameters.
    public var sections: [(name: String, parameters: [Parameter])] {
        var order: [String] = []
        var members: [String: [Parameter]] = [:]
        for parameter in parameters {
            if members[parameter.section] == nil { order.append(parameter.section) }
            members[parameter.section, default: []].append(parameter)
        }
        return order.map { ($0, members[$0] ?? []) }
    }

    /// Refuses what the pipeline would refuse when it starts: an unknown name, a value of the
    /// wrong type or outside its range, a profile without a value it needs. The error names
    /// the first parameter at fault (by name order) in its field, `parameters.<name>`.
    public func check(_ values: [String: RunParameter], profile: RunProfile) throws {
        for (name, value) in values.sorted(by: { $0.key < $1.key }) {
            guard let parameter = parameter(name) else {
                let near = Self.nearest(to: name, in: parameters.map(\.name))
                throw CharterError.invalid(
                    field: "parameters.\(name)",
                    message: "The pipeline has no parameter \(Parameter.shown(.string(name)))"
                        + (near.map { "; did you mean \($0)?" } ?? ".")
                        + " See the list of parameters on the run form, or the pipeline's charter_pipeline/parameters.json."
                )
            }
            if let problem = parameter.problem(with: value) {
                throw CharterError.invalid(field: "parameters.\(name)", message: problem)
            }
        }
        for parameter in parameters where (parameter.requiredBy ?? []).contains(profile.rawValue) {
            let given = values[parameter.name]
            let empty: Bool =
                switch given {
                case .string(let text)?: text.isEmpty
                case .some: false
                case nil: parameter.defaultValue(profile) == .none
                }
            if empty {
                throw CharterError.invalid(
                    field: "parameters.\(parameter.name)",
                    message: "The \(profile.rawValue) profile needs \(parameter.name): \(parameter.help).")
            }
        }
    }

    /// The known name closest to `name` by edit distance, if it is close enough to be a typo.
    static func nearest(to name: String, in names: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var row = Array(0...b.count)
            for (i, x) in a.enumerated() {
                var previous = row[0]
                row[0] = i + 1
                for (j, y) in b.enumerated() {
                    let current = row[j + 1]
                    row[j + 1] = min(row[j + 1] + 1, row[j] + 1, previous + (x == y ? 0 : 1))
                    previous = current
                }
            }
            return row[b.count]
        }
        let target = Array(name.lowercased())
        guard
            let best = names.map({ ($0, distance(target, Array($0))) }).min(by: {
                $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0
            }), best.1 <= max(2, target.count / 4)
        else { return nil }
        return best.0
    }

    public static func decode(_ data: Data) throws -> PipelineParameters {
        let table = try JSONDecoder().decode(PipelineParameters.self, from: data)
        guard table.schema == schemaName || table.schema.hasPrefix(schemaName + ".") else {
            throw CharterError.conflict(
                "The pipeline's parameter list has the schema \(table.schema), not \(schemaName).")
        }
        return table
    }

    /// Where the reference pipeline keeps its list, beside its `run` command.
    public static func besideCommand(_ command: [String]) -> URL? {
        guard let executable = command.first, executable.contains("/") else { return nil }
        return URL(fileURLWithPath: executable).deletingLastPathComponent()
            .appendingPathComponent("charter_pipeline/parameters.json")
    }
}
