import Foundation

@testable import CharterPostgres

/// The PostgreSQL server the tests use: `CHARTER_TEST_POSTGRES_URL` when set (scripts/test
/// starts a throw-away cluster and sets it), else a cluster this process starts with
/// `scripts/postgres/cluster` in /tmp, left running for the next test run (stop it with
/// `scripts/postgres/cluster stop /tmp/charter-test-postgres-$UID`).
enum PostgresTestServer {
    static let url: Result<String, TestServerUnavailable> = {
        if let url = ProcessInfo.processInfo.environment["CHARTER_TEST_POSTGRES_URL"], !url.isEmpty {
            return .success(url)
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let script = root.appendingPathComponent("scripts/postgres/cluster").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: script)
        process.arguments = ["start", "/tmp/charter-test-postgres-\(getuid())"]
        let output = Pipe()
        process.standardOutput = output
        do {
            try process.run()
        } catch {
            return .failure(TestServerUnavailable(reason: "cannot run \(script): \(error)"))
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let url = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0, !url.isEmpty else {
            return .failure(
                TestServerUnavailable(reason: "\(script) start exited with \(process.terminationStatus)"))
        }
        return .success(url)
    }()

    /// A store in a schema of its own, dropped by `drop`.
    static func store(maximumConnections: Int = 8) async throws -> PostgresStore {
        let schema = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        return try await PostgresStore(
            url: url.get(), schema: String(schema), maximumConnections: maximumConnections)
    }

    static func drop(_ store: PostgresStore) async {
        _ = try? await store.readOne { sql in
            let schema = try await sql.value(String.self, "SELECT current_schema()") ?? ""
            if schema.hasPrefix("test_") { try await sql.execute("DROP SCHEMA \(schema) CASCADE") }
        }
        await store.close()
    }
}

struct TestServerUnavailable: Error, CustomStringConvertible {
    var reason: String
    var description: String { "no PostgreSQL server for the tests: \(reason)" }
}
