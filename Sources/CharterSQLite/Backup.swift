import Foundation
import GRDB

extension SQLiteStore {
    public struct BackupError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Copies the database, as one consistent snapshot, into a new file with SQLite's online
    /// backup while the server keeps serving: the copy is taken in one read transaction, which
    /// in WAL mode never blocks a writer.
    public func backup(to path: String) throws {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw BackupError(description: "\(path) exists already; a backup never overwrites a file.")
        }
        try Self.createPrivateFile(path)
        let destination = try DatabaseQueue(path: path)
        try pool.backup(to: destination)
        try destination.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = DELETE")
            // A backup never carries a signing secret (older databases kept one as a setting).
            try db.execute(sql: "DELETE FROM setting WHERE key = 'cookie_secret'")
        }
        try destination.close()
        try Self.verify(path)
    }

    /// Puts a backup in place of the database at `path` (which need not exist): it is checked
    /// first (SQLite's integrity check and Charter's schema), then copied in with the backup API
    /// in one transaction, so the database is either the old one or the backup, never a mix.
    /// Stop the server first: it would otherwise keep running on data it no longer holds.
    public static func restore(from backup: String, to path: String) throws {
        try verify(backup)
        let source = try DatabaseQueue(path: backup, configuration: readOnly)
        let store = try SQLiteStore(path: path)
        try source.backup(to: store.pool)
        try store.pool.close()
        try source.close()
        _ = try SQLiteStore(path: path)
    }

    /// A file that is an intact Charter database with no migration this version does not know.
    static func verify(_ path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw BackupError(description: "\(path) does not exist.")
        }
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: readOnly)
        } catch {
            throw BackupError(description: "\(path) is not an SQLite database.")
        }
        defer { try? queue.close() }
        try queue.read { db in
            let integrity = try String.fetchAll(db, sql: "PRAGMA integrity_check")
            guard integrity == ["ok"] else {
                throw BackupError(description: "\(path) fails SQLite's integrity check: \(integrity.prefix(3))")
            }
            guard try db.tableExists("grdb_migrations") else {
                throw BackupError(description: "\(path) is not a Charter database.")
            }
            let applied = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
            let unknown = Set(applied).subtracting(migrationIdentifiers)
            guard unknown.isEmpty else {
                throw BackupError(description: "\(path) comes from a newer Charter (\(unknown.sorted())).")
            }
            guard !applied.isEmpty else { throw BackupError(description: "\(path) is not a Charter database.") }
        }
    }

    static var readOnly: Configuration {
        var configuration = Configuration()
        configuration.readonly = true
        return configuration
    }
}
