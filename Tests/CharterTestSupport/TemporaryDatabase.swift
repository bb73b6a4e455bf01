public import CharterSQLite
public import Foundation
import GRDB

/// A database file in a fresh temporary folder, removed when the test is done with it.
public final class TemporaryDatabase: Sendable {
    public let folder: URL
    public var path: String { folder.appendingPathComponent("charter.sqlite").path }

    public init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("charter-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    public func open() throws -> SQLiteStore { try SQLiteStore(path: path) }

    deinit { try? FileManager.default.removeItem(at: folder) }
}

extension SQLiteStore {
    /// Every row of every table that holds Charter's data, as text: two equal snapshots mean
    /// a request changed nothing. Organiser sessions are left out (signing in is a change).
    public func snapshot() throws -> String {
        try pool.read { db in
            var out = ""
            for table in [
                "conversation", "statement", "participant", "vote", "vote_event", "organiser", "api_token", "audit_log",
                "setting", "analysis", "constitution", "principle_wording",
            ] {
                let rows = try Row.fetchAll(db, sql: "SELECT * FROM \(table)").map(\.description).sorted()
                out += "\(table): \(rows.count)\n" + rows.joined(separator: "\n") + "\n"
            }
            return out
        }
    }
}
