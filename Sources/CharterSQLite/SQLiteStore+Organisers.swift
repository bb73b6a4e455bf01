public import CharterDomain
public import CharterStore
public import Foundation
import GRDB

// Organisers, their credentials and sessions; the audit log and settings.
extension SQLiteStore {
    // MARK: Organisers and credentials

    public func createOrganiser(email: String, passwordHash: String, isAdmin: Bool) async throws -> Organiser {
        let email = try Organiser.validatedEmail(email)
        return try await write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM organiser WHERE email = ?", arguments: [email]) == true {
                throw CharterError.conflict("An organiser with the email \(email) already exists.")
            }
            let first = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM organiser") == 0
            try db.execute(
                sql: "INSERT INTO organiser (email, password_hash, created_at, is_admin) VALUES (?, ?, ?, ?)",
                arguments: [email, passwordHash, Date(), isAdmin || first])
            let organiser = try Row.fetchOne(
                db, sql: "SELECT * FROM organiser WHERE id = ?", arguments: [db.lastInsertedRowID]
            ).map(Organiser.init(row:))!
            try Self.audit(db, .system, .organiserCreate, detail: email)
            return organiser
        }
    }

    public func organiserCredentials(email: String) async throws -> (Organiser, passwordHash: String)? {
        let email = Organiser.normalisedEmail(email)
        return try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM organiser WHERE email = ?", arguments: [email])
            else { return nil }
            return (Organiser(row: row), row["password_hash"])
        }
    }

    public func organiser(id: Int64) async throws -> Organiser? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM organiser WHERE id = ?", arguments: [id]).map(Organiser.init(row:))
        }
    }

    public func storeAPIToken(organiserID: Int64, tokenHash: String, label: String) async throws {
        try await write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM organiser WHERE id = ?", arguments: [organiserID]) == true
            else { throw CharterError.notFound("Organiser") }
            try db.execute(
                sql: "INSERT INTO api_token (organiser_id, token_hash, label, created_at) VALUES (?, ?, ?, ?)",
                arguments: [organiserID, tokenHash, label, Date()])
            try Self.audit(db, Actor(organiserID: organiserID, name: "system"), .tokenCreate, detail: label)
        }
    }

    public func organiser(apiTokenHash: String) async throws -> Organiser? {
        try await pool.read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT o.* FROM organiser o JOIN api_token t ON t.organiser_id = o.id WHERE t.token_hash = ?",
                arguments: [apiTokenHash]
            ).map(Organiser.init(row:))
        }
    }

    public func storeSession(organiserID: Int64, tokenHash: String, expiresAt: Date) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM organiser_session WHERE expires_at < ?", arguments: [Date()])
            try db.execute(
                sql:
                    "INSERT INTO organiser_session (token_hash, organiser_id, expires_at, created_at) VALUES (?, ?, ?, ?)",
                arguments: [tokenHash, organiserID, expiresAt, Date()])
        }
    }

    public func organiser(sessionHash: String, at now: Date) async throws -> Organiser? {
        try await pool.read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT o.* FROM organiser o JOIN organiser_session s ON s.organiser_id = o.id
                    WHERE s.token_hash = ? AND s.expires_at > ?
                    """,
                arguments: [sessionHash, now]
            ).map(Organiser.init(row:))
        }
    }

    public func deleteSession(tokenHash: String) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM organiser_session WHERE token_hash = ?", arguments: [tokenHash])
        }
    }

    // MARK: Audit and settings

    public func auditLog(conversationID: Int64?, offset: Int, limit: Int) async throws -> Page<AuditEntry> {
        try await pool.read { db in
            let (whereClause, arguments): (String, StatementArguments) =
                conversationID.map { ("WHERE conversation_id = ?", [$0]) } ?? ("", [])
            let total =
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM audit_log \(whereClause)", arguments: arguments) ?? 0
            let limit = max(1, min(limit, 500))
            let offset = max(0, offset)
            let items = try Row.fetchAll(
                db, sql: "SELECT * FROM audit_log \(whereClause) ORDER BY id DESC LIMIT ? OFFSET ?",
                arguments: arguments + [limit, offset]
            ).map(AuditEntry.init(row:))
            return Page(items: items, total: total, offset: offset, limit: limit)
        }
    }

    public func setting(_ key: String) async throws -> String? {
        try await pool.read { db in
            try String.fetchOne(db, sql: "SELECT value FROM setting WHERE key = ?", arguments: [key])
        }
    }

    public func settingInsertingIfAbsent(_ key: String, value: String) async throws -> String {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO setting (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING", arguments: [key, value])
            return try String.fetchOne(db, sql: "SELECT value FROM setting WHERE key = ?", arguments: [key])!
        }
    }

    public func deleteSetting(_ key: String) async throws {
        try await write { db in try db.execute(sql: "DELETE FROM setting WHERE key = ?", arguments: [key]) }
    }

    public func counts() async throws -> StoreCounts {
        try await pool.read { db in
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT (SELECT COUNT(*) FROM conversation) AS conversations,
                           (SELECT COUNT(*) FROM participant) AS participants,
                           (SELECT COUNT(*) FROM statement) AS statements,
                           (SELECT COUNT(*) FROM vote) AS votes
                    """)!
            return StoreCounts(
                conversations: row["conversations"], participants: row["participants"], statements: row["statements"],
                votes: row["votes"])
        }
    }
}
