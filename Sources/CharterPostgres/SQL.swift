import CharterDomain
import CharterStore
import Foundation
import Logging
import PostgresNIO

/// A value bound to one `?` of a query.
protocol SQLBindable {
    func bind(into bindings: inout PostgresBindings) throws
    /// A NULL of this type, so PostgreSQL knows the parameter's type even when it is absent.
    static func bindNull(into bindings: inout PostgresBindings)
}

extension SQLBindable where Self: PostgresNonThrowingEncodable {
    func bind(into bindings: inout PostgresBindings) { bindings.append(self) }
    static func bindNull(into bindings: inout PostgresBindings) { bindings.append(Self?.none) }
}

extension Int64: SQLBindable {}
extension Int: SQLBindable {}
extension Int32: SQLBindable {}
extension Int16: SQLBindable {}
extension String: SQLBindable {}
extension Bool: SQLBindable {}
extension Double: SQLBindable {}
extension Date: SQLBindable {}
extension Array: SQLBindable where Element: PostgresArrayEncodable & PostgresNonThrowingEncodable {}

extension Data: SQLBindable {
    func bind(into bindings: inout PostgresBindings) throws { try bindings.append(self) }
    static func bindNull(into bindings: inout PostgresBindings) { bindings.append(ByteBuffer?.none) }
}

extension Optional: SQLBindable where Wrapped: SQLBindable {
    func bind(into bindings: inout PostgresBindings) throws {
        if let self { try self.bind(into: &bindings) } else { Wrapped.bindNull(into: &bindings) }
    }
    static func bindNull(into bindings: inout PostgresBindings) { Wrapped.bindNull(into: &bindings) }
}

/// One row of a result, read by column name.
struct SQLRow {
    let row: PostgresRandomAccessRow

    init(_ row: PostgresRow) { self.row = row.makeRandomAccess() }

    func callAsFunction<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        guard row.contains(column) else { throw StorageUnavailable(reason: "the result has no column \(column)") }
        return try row[column].decode(T.self)
    }

    /// A column by position, for queries whose columns are expressions.
    func at<T: PostgresDecodable>(_ index: Int, as type: T.Type = T.self) throws -> T {
        guard index >= 0, index < row.count else {
            throw StorageUnavailable(reason: "the result has no column \(index)")
        }
        return try row[index].decode(T.self)
    }
}

/// A connection inside one transaction (or one read), with SQL written with `?` placeholders
/// as on SQLite; every value goes as a bound parameter, never into the text.
struct SQLConnection {
    let connection: PostgresConnection
    let logger: Logger

    static func query(_ sql: String, _ values: [any SQLBindable]) throws -> PostgresQuery {
        var bindings = PostgresBindings(capacity: values.count)
        for value in values { try value.bind(into: &bindings) }
        return PostgresQuery(unsafeSQL: numberingPlaceholders(sql), binds: bindings)
    }

    /// `?` becomes `$1`, `$2`, … outside quoted text.
    static func numberingPlaceholders(_ sql: String) -> String {
        var out = ""
        out.reserveCapacity(sql.utf8.count + 16)
        var number = 0
        var quote: Character?
        for character in sql {
            if let open = quote {
                if character == open { quote = nil }
                out.append(character)
            } else if character == "'" || character == "\"" {
                quote = character
                out.append(character)
            } else if character == "?" {
                number += 1
                out += "$\(number)"
            } else {
                out.append(character)
            }
        }
        return out
    }

    func rows(_ sql: String, _ values: any SQLBindable...) async throws -> [SQLRow] {
        try await rows(sql, values: values)
    }

    func rows(_ sql: String, values: [any SQLBindable]) async throws -> [SQLRow] {
        let sequence = try await connection.query(Self.query(sql, values), logger: logger)
        var result: [SQLRow] = []
        for try await row in sequence { result.append(SQLRow(row)) }
        return result
    }

    func row(_ sql: String, _ values: any SQLBindable...) async throws -> SQLRow? {
        try await rows(sql, values: values).first
    }

    /// The first column of the first row, or nil when there is no row (or it is NULL).
    func value<T: PostgresDecodable>(_ type: T.Type, _ sql: String, _ values: any SQLBindable...) async throws -> T?
    where T._DecodableType == T {
        guard let row = try await rows(sql, values: values).first else { return nil }
        return try row.at(0, as: T?.self)
    }

    func values<T: PostgresDecodable>(_ type: T.Type, _ sql: String, _ values: any SQLBindable...) async throws -> [T] {
        try await rows(sql, values: values).map { try $0.at(0, as: T.self) }
    }

    /// Runs a statement; returns how many rows it returned (add `RETURNING` to count changes).
    @discardableResult
    func execute(_ sql: String, _ values: any SQLBindable...) async throws -> Int {
        try await execute(sql, values: values)
    }

    @discardableResult
    func execute(_ sql: String, values: [any SQLBindable]) async throws -> Int {
        let sequence = try await connection.query(Self.query(sql, values), logger: logger)
        var returned = 0
        for try await _ in sequence { returned += 1 }
        return returned
    }

    /// `begin`, then `body`, then COMMIT; ROLLBACK when `body` (or the commit) throws.
    func inTransaction<T>(begin: String = "BEGIN", _ body: (SQLConnection) async throws -> T) async throws -> T {
        try await execute(begin)
        do {
            let result = try await body(self)
            try await execute("COMMIT")
            return result
        } catch {
            _ = try? await execute("ROLLBACK")
            throw error
        }
    }
}
