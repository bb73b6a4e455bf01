public import CharterStore
import Foundation
import GRDB

/// The database read table by table for `migrate-store`, from one snapshot taken when it is made:
/// writes after that (a server left running) are not in it.
public final class SQLiteTableSource: StoreTableSource {
    private let snapshot: DatabaseSnapshot

    public init(_ store: SQLiteStore) throws {
        snapshot = try store.pool.makeSnapshot()
    }

    public func dataTables() async throws -> [String] {
        try await snapshot.read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
                        AND name NOT LIKE 'grdb_%' ORDER BY name
                    """)
        }
    }

    public func columns(of table: String) async throws -> [String] {
        try await snapshot.read { db in try db.columns(in: table).map(\.name) }
    }

    public func rowCount(of table: String) async throws -> Int {
        try await snapshot.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table.quotedDatabaseIdentifier)") ?? 0
        }
    }

    public func rows(of table: String, offset: Int, limit: Int) async throws -> [[StoreValue]] {
        try await snapshot.read { db in
            let key = try db.primaryKey(table).columns.map(\.quotedDatabaseIdentifier).joined(separator: ", ")
            return try Row.fetchAll(
                db, sql: "SELECT * FROM \(table.quotedDatabaseIdentifier) ORDER BY \(key) LIMIT ? OFFSET ?",
                arguments: [limit, offset]
            ).map { row in
                row.databaseValues.map { value in
                    switch value.storage {
                    case .null: .null
                    case .int64(let integer): .integer(integer)
                    case .double(let real): .real(real)
                    case .string(let text): .text(text)
                    case .blob(let data): .blob(data)
                    }
                }
            }
        }
    }
}
