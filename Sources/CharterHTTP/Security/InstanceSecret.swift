public import CharterStore
import Foundation

/// The instance secret that signs participant tokens, CSRF tokens and panel links. It never
/// lives in the database, so neither the database nor its backups can mint anything:
/// `CHARTER_SECRET`, else `--secret-file`, else a file beside the database (`<database>.secret`,
/// mode 0600), generated on first start. A database from before this kept the secret as a
/// setting; it is moved into the file and deleted from the database.
public enum InstanceSecret {
    static let legacySetting = "cookie_secret"

    /// The secret from the environment, else from `secretFile`, else from the file beside a
    /// SQLite database (`databasePath`.secret), made on first use. Without a `databasePath`
    /// (PostgreSQL, where several servers share the database) no secret is invented: every
    /// server must be given the same one.
    public static func load(environment: String?, secretFile: String?, databasePath: String?, store: any AuditStore)
        async throws -> String
    {
        let legacy = try await store.setting(legacySetting)
        if let environment, !environment.isEmpty {
            if legacy != nil { try await store.deleteSetting(legacySetting) }
            return environment
        }
        guard let path = secretFile ?? databasePath.map({ $0 + ".secret" }) else {
            throw InstanceSecretError(
                description:
                    "On PostgreSQL every server must sign with the same secret: set CHARTER_SECRET or give --secret-file "
                    + "a file holding it (for example one made by `openssl rand -hex 32`) to each server.")
        }
        if let existing = try read(path) {
            if legacy != nil { try await store.deleteSetting(legacySetting) }
            return existing
        }
        if secretFile != nil, FileManager.default.fileExists(atPath: path) {
            throw InstanceSecretError(description: "The secret file \(path) is empty.")
        }
        if databasePath == nil {
            throw InstanceSecretError(
                description:
                    "The secret file \(path) does not exist; on PostgreSQL every server must be given the same secret.")
        }
        let secret = legacy ?? SecureToken.make()
        let written = try writeNew(path, secret)
        if legacy != nil { try await store.deleteSetting(legacySetting) }
        return written
    }

    /// The file's secret, or nil when there is no such file or it is empty.
    static func read(_ path: String) throws -> String? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw InstanceSecretError(description: "The secret file \(path) cannot be read.")
        }
        let secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return secret.isEmpty ? nil : secret
    }

    /// Writes the secret to a new file of mode 0600; when another process made the file first,
    /// its secret wins, so two servers starting at once agree.
    static func writeNew(_ path: String, _ secret: String) throws -> String {
        let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        if fd < 0 {
            if errno == EEXIST, let existing = try read(path) { return existing }
            throw InstanceSecretError(
                description: "Cannot create the secret file \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let bytes = Array((secret + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            throw InstanceSecretError(description: "Cannot write the secret file \(path).")
        }
        return secret
    }
}

public struct InstanceSecretError: Error, CustomStringConvertible {
    public var description: String
}
