import CharterSQLite
import Foundation

/// A database file in a fresh temporary folder, removed when the test is done with it.
final class TemporaryDatabase {
    let folder: URL
    var path: String { folder.appendingPathComponent("charter.sqlite").path }

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("charter-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    func open() throws -> SQLiteStore { try SQLiteStore(path: path) }

    deinit { try? FileManager.default.removeItem(at: folder) }
}
