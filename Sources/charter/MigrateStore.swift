import ArgumentParser
import CharterPostgres
import CharterSQLite
import CharterStore
import Foundation

struct MigrateStore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-store",
        abstract: "Copy a SQLite database into an empty PostgreSQL database, in one transaction.",
        discussion: """
            Stop the servers using the SQLite file first: the copy is taken from one snapshot, and \
            what is written after it is not copied. Every table is copied with its ids; the target \
            must be an empty Charter database (a new one is made ready on first connection). \
            Afterwards the row counts of every table and every published constitution's body and \
            sha256 are compared between the two.
            """)

    @Option(help: "The SQLite database to copy.")
    var from: String

    @Option(help: "The PostgreSQL database to copy into: postgres://user@host:port/db.")
    var to: String

    func run() async throws {
        guard case .sqlite(let path) = try location(from, "--from") else {
            throw ValidationError("--from must be a SQLite file; \(try location(from, "--from")) is not.")
        }
        guard case .postgres(let url) = try location(to, "--to") else {
            throw ValidationError("--to must be a postgres:// URL.")
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw ValidationError("There is no SQLite database at \(path).")
        }
        let source = try SQLiteStore(path: path)
        let target = try await PostgresStore(url: url)
        let report: StoreCopyReport
        do {
            report = try await target.copyEverything(from: try SQLiteTableSource(source))
        } catch let refused as StoreCopyRefused {
            await target.close()
            throw ValidationError(refused.description)
        }
        for table in StoreTables.copied {
            print("\(table): \(report.sourceRows[table] ?? 0) rows copied")
        }
        var constitutions = 0
        for conversation in try await source.conversations() {
            for original in try await source.constitutions(conversationID: conversation.id) {
                guard let copy = try await target.constitution(id: original.id), copy.sha256 == original.sha256,
                    copy.body == original.body, copy.version == original.version
                else {
                    await target.close()
                    throw ValidationError(
                        "Constitution \(original.id) (sha256 \(original.sha256)) differs after the copy.")
                }
                constitutions += 1
            }
        }
        await target.close()
        print(
            "Copied \(path) to \(DatabaseLocation.postgres(url: url)): every table's rows counted, "
                + "\(constitutions) constitutions' bodies and sha256 compared.")
    }

    func location(_ text: String, _ name: String) throws -> DatabaseLocation {
        do { return try DatabaseLocation(text) } catch { throw ValidationError("\(name): \(error.message)") }
    }
}
