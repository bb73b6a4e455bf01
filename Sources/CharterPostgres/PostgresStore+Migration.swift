public import CharterStore
import Foundation
import PostgresNIO

/// What `migrate-store` did: rows per table, as read from the source and as found in the target.
public struct StoreCopyReport: Sendable, Equatable {
    public var sourceRows: [String: Int]
    public var targetRows: [String: Int]
}

public struct StoreCopyRefused: Error, CustomStringConvertible {
    public var description: String
}

extension PostgresStore {
    /// Copies every table of `source` into this database, in one transaction: all of it or, on
    /// any failure, nothing. Refuses a target that holds data, and a source table it does not
    /// know how to copy. Ids are kept (the identity sequences then continue after them), and
    /// each value is converted to its column's type (SQLite's dates are text, its booleans
    /// integers). Counts are compared inside the transaction before it commits.
    public func copyEverything(from source: any StoreTableSource, batchRows: Int = 2000) async throws
        -> StoreCopyReport
    {
        let known = Set(StoreTables.copied + StoreTables.rebuilt)
        let unknown = try await source.dataTables().filter { !known.contains($0) }
        guard unknown.isEmpty else {
            throw StoreCopyRefused(
                description:
                    "The source has tables migrate-store does not copy (\(unknown.joined(separator: ", "))); "
                    + "nothing was copied. This build of Charter is older than the database.")
        }
        return try await write { sql in
            for table in StoreTables.copied + StoreTables.rebuilt {
                let rows = try await sql.count("SELECT COUNT(*) FROM \(table)")
                guard rows == 0 else {
                    throw StoreCopyRefused(
                        description:
                            "The target database is not empty (\(table) has \(rows) rows); migrate-store copies into "
                            + "an empty Charter database only, so nothing was copied.")
                }
            }
            var report = StoreCopyReport(sourceRows: [:], targetRows: [:])
            let sourceTables = Set(try await source.dataTables())
            for table in StoreTables.copied {
                guard sourceTables.contains(table) else {
                    report.sourceRows[table] = 0
                    report.targetRows[table] = 0
                    continue
                }
                let columns = try await source.columns(of: table)
                var types: [String: String] = [:]
                for row in try await sql.rows(
                    "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?",
                    table)
                {
                    types[try row.at(0)] = try row.at(1)
                }
                let missing = columns.filter { types[$0] == nil }
                guard missing.isEmpty else {
                    throw StoreCopyRefused(
                        description: "The target's \(table) has no column \(missing.joined(separator: ", ")).")
                }
                let total = try await source.rowCount(of: table)
                // PostgreSQL takes at most 65,535 parameters in one statement.
                let perStatement = max(1, min(batchRows, 60_000 / max(1, columns.count)))
                var offset = 0
                while offset < total {
                    let rows = try await source.rows(of: table, offset: offset, limit: perStatement)
                    if rows.isEmpty { break }
                    var values: [any SQLBindable] = []
                    values.reserveCapacity(rows.count * columns.count)
                    for row in rows {
                        for (column, value) in zip(columns, row) {
                            values.append(
                                try Self.converted(value, to: types[column] ?? "text", table: table, column: column))
                        }
                    }
                    let tuple = "(" + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ")"
                    try await sql.execute(
                        "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES "
                            + Array(repeating: tuple, count: rows.count).joined(separator: ", "),
                        values: values)
                    offset += rows.count
                }
                report.sourceRows[table] = total
                report.targetRows[table] = try await sql.count("SELECT COUNT(*) FROM \(table)")
                if columns.contains("id"), types["id"] == "bigint" {
                    try await sql.execute(
                        "SELECT setval(pg_get_serial_sequence(?, 'id'), COALESCE(MAX(id), 0) + 1, false) FROM \(table)",
                        table)
                }
            }
            let different = report.sourceRows.filter { report.targetRows[$0.key] != $0.value }.keys.sorted()
            guard different.isEmpty else {
                throw StoreCopyRefused(
                    description:
                        "Row counts differ after copying \(different.joined(separator: ", ")); nothing was copied.")
            }
            return report
        }
    }

    static func converted(_ value: StoreValue, to type: String, table: String, column: String) throws
        -> any SQLBindable
    {
        func refuse() -> StoreCopyRefused {
            StoreCopyRefused(description: "\(table).\(column) holds \(value), which is not a \(type).")
        }
        switch (value, type) {
        case (.null, "bigint"), (.null, "integer"), (.null, "smallint"): return Int64?.none
        case (.null, "boolean"): return Bool?.none
        case (.null, "timestamp with time zone"): return Date?.none
        case (.null, "double precision"): return Double?.none
        case (.null, "bytea"): return Data?.none
        case (.null, _): return String?.none
        case (.integer(let integer), "bigint"): return integer
        case (.integer(let integer), "integer"):
            guard let narrow = Int32(exactly: integer) else { throw refuse() }
            return narrow
        case (.integer(let integer), "smallint"):
            guard let narrow = Int16(exactly: integer) else { throw refuse() }
            return narrow
        case (.integer(let integer), "boolean"): return integer != 0
        case (.integer(let integer), "double precision"): return Double(integer)
        case (.real(let real), "double precision"): return real
        case (.integer(let integer), "text"): return String(integer)
        case (.text(let text), "text"): return text
        case (.text(let text), "timestamp with time zone"):
            guard let date = SQLiteDateText.date(text) else { throw refuse() }
            return date
        case (.text(let text), "bytea"): return Data(text.utf8)
        case (.blob(let data), "bytea"): return data
        case (.blob(let data), "text"):
            guard let text = String(data: data, encoding: .utf8) else { throw refuse() }
            return text
        default: throw refuse()
        }
    }
}

/// GRDB's date text ("yyyy-MM-dd HH:mm:ss.SSS", UTC; also without the fraction, or with a T).
enum SQLiteDateText {
    /// Made once: a copy converts every date of the vote log, and making a formatter costs more
    /// than using it.
    private static let formatters: [DateFormatter] = [
        "yyyy-MM-dd HH:mm:ss.SSS", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss.SSS", "yyyy-MM-dd",
    ].map { format in
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = format
        return formatter
    }

    static func date(_ text: String) -> Date? {
        formatters.lazy.compactMap { $0.date(from: text) }.first
    }
}
