import CharterDomain
import CharterHTTP
import CharterInput
import CharterStore
import Foundation
import Logging

/// Why a setting's text is not a value of its kind, e.g. "expected a port number from 1 to 65535".
public struct ValueProblem: Error, Sendable, Equatable {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }
}

/// What a setting's text must look like and the value it becomes. Every kind reads the same text
/// from a flag, an environment variable or the default.
public struct ValueKind<Value: Sendable>: Sendable {
    /// What a good value looks like, for messages and the settings table: "rate/burst such as 5/30, or off".
    public let expected: String
    private let read: @Sendable (String) -> Result<Value, ValueProblem>

    init(expected: String, read: @escaping @Sendable (String) -> Result<Value, ValueProblem>) {
        self.expected = expected
        self.read = read
    }

    /// A kind whose only complaint is "expected …": `parse` gives nil for a bad text.
    init(expected: String, parse: @escaping @Sendable (String) -> Value?) {
        self.expected = expected
        self.read = { text in
            guard let value = parse(text) else { return .failure(ValueProblem("expected \(expected)")) }
            return .success(value)
        }
    }

    public func parse(_ text: String) -> Result<Value, ValueProblem> {
        read(text)
    }
}

extension ValueKind where Value == String {
    /// Any text but an empty one (or only spaces): a folder, a file, an address.
    static func nonEmpty(_ expected: String) -> ValueKind {
        ValueKind(expected: expected) { text in text.trimmingCharacters(in: .whitespaces).isEmpty ? nil : text }
    }

    /// One more `#SBATCH` option: a single line starting with `-`.
    static var sbatchOption: ValueKind {
        ValueKind(expected: "an sbatch option such as --mem=16G (one line, starting with -)") { text in
            text.hasPrefix("-") && !text.contains(where: \.isNewline) ? text : nil
        }
    }
}

extension ValueKind where Value == String? {
    /// Any text; empty is none (a folder or file that is not given).
    static func optional(_ expected: String) -> ValueKind {
        ValueKind(expected: expected) { text in .some(text.isEmpty ? nil : text) }
    }

    /// A value handed to Slurm on a line of its own; empty is none.
    static func singleLine(_ expected: String) -> ValueKind {
        ValueKind(expected: expected) { text in
            text.contains(where: \.isNewline) ? nil : .some(text.isEmpty ? nil : text)
        }
    }
}

extension ValueKind where Value == Int {
    static var port: ValueKind {
        ValueKind(expected: "a port number from 1 to 65535") { text in
            Int(text).flatMap { (1...65535).contains($0) ? $0 : nil }
        }
    }

    /// A whole number of at least 1.
    static func positive(_ what: String) -> ValueKind {
        ValueKind(expected: "a whole number of \(what), at least 1") { text in Int(text).flatMap { $0 >= 1 ? $0 : nil }
        }
    }
}

extension ValueKind where Value == Bool {
    /// On or off: 1/true/yes/on, 0/false/no/off (empty is off).
    static var boolean: ValueKind {
        ValueKind(expected: "1 or 0 (or true/false, yes/no, on/off)") { text in
            switch text.lowercased() {
            case "1", "true", "yes", "on": true
            case "", "0", "false", "no", "off": false
            default: nil
            }
        }
    }
}

extension ValueKind where Value == Duration {
    /// A positive, finite number of seconds, such as 30 or 0.5.
    static var seconds: ValueKind {
        ValueKind(expected: "a positive number of seconds, such as 30 or 0.5") { text in
            Double(text).flatMap(Duration.positive(seconds:))
        }
    }
}

extension Duration {
    /// `seconds` as a duration of whole milliseconds, or nil when it is not positive, not finite
    /// or too long to count in milliseconds.
    static func positive(seconds: Double) -> Duration? {
        guard seconds > 0, seconds.isFinite, seconds * 1000 < Double(Int64.max) else { return nil }
        return .milliseconds(Int64(seconds * 1000))
    }
}

extension ValueKind where Value == RateLimit {
    /// `rate/burst` (a rate per second and a burst, as `RateLimit` reads them), or `off`.
    static var rateLimit: ValueKind {
        ValueKind(expected: "rate/burst such as 5/30, or off") { text in
            text == "off" ? .unlimited : RateLimit(text)
        }
    }
}

extension ValueKind where Value == [CIDR] {
    /// CIDRs separated by commas, as `CIDR.list` reads them; empty is none.
    static var cidrList: ValueKind {
        ValueKind(expected: "CIDRs separated by commas, such as 10.0.0.0/8,::1/128") { text in CIDR.list(text) }
    }
}

extension ValueKind where Value == Logger.Level {
    static var logLevel: ValueKind {
        let names = Logger.Level.allCases.map(\.rawValue)
        return ValueKind(
            expected: "a log level: " + names.dropLast().joined(separator: ", ") + " or " + (names.last ?? "")
        ) { text in Logger.Level(rawValue: text.lowercased()) }
    }
}

/// Where comparison runs execute.
public enum RunExecutorKind: String, Sendable, CaseIterable {
    /// A subprocess of the server (or of `charter run --wait`).
    case local
    /// A batch job submitted with sbatch.
    case slurm
}

extension ValueKind where Value == RunExecutorKind {
    static var executor: ValueKind {
        ValueKind(expected: "local or slurm") { text in RunExecutorKind(rawValue: text) }
    }
}

extension ValueKind where Value == [RunProfile: Duration] {
    /// Minutes per profile, `smoke=20,small=120`; empty is none (each profile keeps its own limit).
    static var runTimeouts: ValueKind {
        let profiles = RunProfile.allCases.map(\.rawValue).joined(separator: ", ")
        return ValueKind(expected: "minutes per profile such as smoke=20,small=120 (profiles: \(profiles))") { text in
            var timeouts: [RunProfile: Duration] = [:]
            for item in text.split(separator: ",") {
                let pair = item.split(separator: "=").map { $0.trimmingCharacters(in: .whitespaces) }
                guard pair.count == 2, let profile = RunProfile(rawValue: pair[0]), let minutes = Double(pair[1]),
                    let timeout = Duration.positive(seconds: minutes * 60)
                else { return nil }
                timeouts[profile] = timeout
            }
            return timeouts
        }
    }
}

extension ValueKind where Value == DatabaseLocation {
    /// A SQLite file or a PostgreSQL URL, as `DatabaseLocation` reads them; its message says
    /// what is wrong.
    static var database: ValueKind {
        ValueKind(
            expected: "a SQLite file or a postgres://user@host:port/database URL",
            read: { text in
                do throws(CharterError) {
                    return .success(try DatabaseLocation(text))
                } catch {
                    return .failure(ValueProblem(error.message))
                }
            })
    }
}
