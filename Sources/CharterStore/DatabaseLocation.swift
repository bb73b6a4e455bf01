public import CharterDomain
import Foundation

/// Where a command's data lives, read from `--database` or `CHARTER_DATABASE`: a SQLite file
/// (a path, or a `sqlite:` / `file:` URL) or a PostgreSQL database (`postgres://` or
/// `postgresql://`). The back end follows from it.
public enum DatabaseLocation: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(url: String)

    public init(_ text: String) throws(CharterError) {
        let text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw .invalid(field: "database", message: "No database was given.") }
        let schemeCharacters = CharacterSet.letters.union(.decimalDigits).union(CharacterSet(charactersIn: "+-."))
        guard let schemeEnd = text.range(of: "://"), !text[..<schemeEnd.lowerBound].isEmpty,
            text[..<schemeEnd.lowerBound].unicodeScalars.allSatisfy(schemeCharacters.contains)
        else {
            for prefix in ["sqlite:", "file:"] where text.lowercased().hasPrefix(prefix) {
                let path = String(text.dropFirst(prefix.count))
                guard !path.isEmpty else {
                    throw .invalid(field: "database", message: "The \(prefix) URL names no file.")
                }
                self = .sqlite(path: path)
                return
            }
            self = .sqlite(path: text)
            return
        }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        let rest = String(text[schemeEnd.upperBound...])
        switch scheme {
        case "sqlite", "file":
            guard !rest.isEmpty else { throw .invalid(field: "database", message: "The \(scheme) URL names no file.") }
            self = .sqlite(path: rest)
        case "postgres", "postgresql":
            guard let components = URLComponents(string: text), let host = components.host, !host.isEmpty else {
                throw .invalid(
                    field: "database",
                    message:
                        "A PostgreSQL URL looks like postgres://user@host:5432/database; \(Self.redacting(text)) has no host."
                )
            }
            let name = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            guard !name.isEmpty, !name.contains("/") else {
                throw .invalid(
                    field: "database",
                    message: "A PostgreSQL URL names one database: postgres://user@host:5432/database.")
            }
            self = .postgres(url: text)
        default:
            throw .invalid(
                field: "database",
                message: "Unknown database scheme \"\(scheme)\": give a SQLite file path or a postgres:// URL.")
        }
    }

    /// The location as it may appear in logs and messages: a password in a URL is hidden.
    public var description: String {
        switch self {
        case .sqlite(let path): path
        case .postgres(let url): Self.redacting(url)
        }
    }

    static func redacting(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? url
    }
}
