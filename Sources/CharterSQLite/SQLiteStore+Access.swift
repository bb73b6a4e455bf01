public import CharterDomain
public import CharterStore
import Foundation
import GRDB

// Panel ids under a binding policy, and organisers' roles on conversations.
extension SQLiteStore {
    public func bindXID(conversationID: Int64, xid: String, binder: String) async throws -> XIDBinding {
        try await write { db in
            guard try Self.fetchConversation(db, id: conversationID) != nil else {
                throw CharterError.notFound("Conversation")
            }
            var created = false
            let participant: Participant
            if let existing = try Self.fetchParticipant(db, conversationID: conversationID, identity: .external(xid)) {
                participant = existing
            } else {
                participant = try Self.insertParticipant(
                    db, conversationID: conversationID, identity: .external(xid), at: Date())
                created = true
            }
            if let holder = try String.fetchOne(
                db, sql: "SELECT binder FROM participant_binding WHERE participant_id = ?", arguments: [participant.id])
            {
                return XIDBinding(participant: participant, held: holder == binder, created: created)
            }
            try db.execute(
                sql: "INSERT INTO participant_binding (participant_id, binder, bound_at) VALUES (?, ?, ?)",
                arguments: [participant.id, binder, Date()])
            return XIDBinding(participant: participant, held: true, created: created)
        }
    }

    public func xidBinder(conversationID: Int64, xid: String) async throws -> String? {
        try await pool.read { db in
            try String.fetchOne(
                db,
                sql: """
                    SELECT b.binder FROM participant_binding b JOIN participant p ON p.id = b.participant_id
                    WHERE p.conversation_id = ? AND p.xid = ?
                    """, arguments: [conversationID, xid])
        }
    }

    public func releaseXID(conversationID: Int64, xid: String, by actor: Actor) async throws -> Bool {
        try await write { db in
            try db.execute(
                sql: """
                    DELETE FROM participant_binding WHERE participant_id =
                        (SELECT id FROM participant WHERE conversation_id = ? AND xid = ?)
                    """, arguments: [conversationID, xid])
            let released = db.changesCount > 0
            if released {
                try Self.audit(db, actor, .participantRelease, conversationID: conversationID, detail: xid)
            }
            return released
        }
    }

    public func setAllowedXIDs(conversationID: Int64, xids: [String], by actor: Actor) async throws {
        try await write { db in
            guard try Self.fetchConversation(db, id: conversationID) != nil else {
                throw CharterError.notFound("Conversation")
            }
            try db.execute(sql: "DELETE FROM xid_allowed WHERE conversation_id = ?", arguments: [conversationID])
            let insert = try db.cachedStatement(
                sql: "INSERT OR IGNORE INTO xid_allowed (conversation_id, xid) VALUES (?, ?)")
            for xid in xids { try insert.execute(arguments: [conversationID, xid]) }
            let count =
                try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM xid_allowed WHERE conversation_id = ?", arguments: [conversationID])
                ?? 0
            try Self.audit(
                db, actor, .conversationAllowList, conversationID: conversationID, detail: "\(count) panel ids")
        }
    }

    public func isXIDAllowed(conversationID: Int64, xid: String) async throws -> Bool {
        try await pool.read { db in
            try Bool.fetchOne(
                db, sql: "SELECT 1 FROM xid_allowed WHERE conversation_id = ? AND xid = ?",
                arguments: [conversationID, xid]) == true
        }
    }

    public func allowedXIDCount(conversationID: Int64) async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM xid_allowed WHERE conversation_id = ?", arguments: [conversationID]) ?? 0
        }
    }

    public func recordParticipantOrigin(participantID: Int64, addressKey: String) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO participant_origin (participant_id, address_key) VALUES (?, ?)",
                arguments: [participantID, addressKey])
        }
    }

    public func joiners(conversationID: Int64) async throws -> [BallotStuffing.Joiner] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT p.id, p.created_at, o.address_key FROM participant p
                    LEFT JOIN participant_origin o ON o.participant_id = p.id
                    WHERE p.conversation_id = ?
                    """, arguments: [conversationID]
            ).map { BallotStuffing.Joiner(participant: $0[0], createdAt: $0[1], address: $0[2]) }
        }
    }

    public func membership(conversationID: Int64, organiserID: Int64) async throws -> ConversationRole? {
        try await pool.read { db in
            try String.fetchOne(
                db, sql: "SELECT role FROM conversation_member WHERE conversation_id = ? AND organiser_id = ?",
                arguments: [conversationID, organiserID]
            ).flatMap(ConversationRole.init(rawValue:))
        }
    }

    public func setMembership(conversationID: Int64, organiserID: Int64, role: ConversationRole?, by actor: Actor)
        async throws
    {
        try await write { db in
            guard try Self.fetchConversation(db, id: conversationID) != nil else {
                throw CharterError.notFound("Conversation")
            }
            guard
                let email = try String.fetchOne(
                    db, sql: "SELECT email FROM organiser WHERE id = ?", arguments: [organiserID])
            else { throw CharterError.notFound("Organiser") }
            let current = try String.fetchOne(
                db, sql: "SELECT role FROM conversation_member WHERE conversation_id = ? AND organiser_id = ?",
                arguments: [conversationID, organiserID])
            if current == ConversationRole.owner.rawValue, role != .owner {
                let owners =
                    try Int.fetchOne(
                        db,
                        sql: "SELECT COUNT(*) FROM conversation_member WHERE conversation_id = ? AND role = 'owner'",
                        arguments: [conversationID]) ?? 0
                guard owners > 1 else {
                    throw CharterError.conflict("A conversation keeps at least one owner; add another owner first.")
                }
            }
            if let role {
                try db.execute(
                    sql: """
                        INSERT INTO conversation_member (conversation_id, organiser_id, role) VALUES (?, ?, ?)
                        ON CONFLICT (conversation_id, organiser_id) DO UPDATE SET role = excluded.role
                        """, arguments: [conversationID, organiserID, role.rawValue])
            } else {
                try db.execute(
                    sql: "DELETE FROM conversation_member WHERE conversation_id = ? AND organiser_id = ?",
                    arguments: [conversationID, organiserID])
            }
            try Self.audit(
                db, actor, .conversationMember, conversationID: conversationID,
                detail: "\(email): \(role?.rawValue ?? "removed")")
        }
    }

    public func members(conversationID: Int64) async throws -> [(Organiser, ConversationRole)] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT o.*, m.role AS member_role FROM conversation_member m JOIN organiser o ON o.id = m.organiser_id
                    WHERE m.conversation_id = ? ORDER BY m.role DESC, o.email
                    """, arguments: [conversationID]
            ).compactMap { row in
                ConversationRole(rawValue: row["member_role"]).map { (Organiser(row: row), $0) }
            }
        }
    }

    public func memberConversationIDs(organiserID: Int64) async throws -> Set<Int64> {
        try await pool.read { db in
            Set(
                try Int64.fetchAll(
                    db, sql: "SELECT conversation_id FROM conversation_member WHERE organiser_id = ?",
                    arguments: [organiserID]))
        }
    }

    public func organisers() async throws -> [Organiser] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM organiser ORDER BY email").map(Organiser.init(row:))
        }
    }

    public func setAdmin(organiserID: Int64, isAdmin: Bool, by actor: Actor) async throws {
        try await write { db in
            guard
                let email = try String.fetchOne(
                    db, sql: "SELECT email FROM organiser WHERE id = ?", arguments: [organiserID])
            else { throw CharterError.notFound("Organiser") }
            if !isAdmin {
                let admins =
                    try Int.fetchOne(
                        db, sql: "SELECT COUNT(*) FROM organiser WHERE is_admin AND id != ?", arguments: [organiserID])
                    ?? 0
                guard admins > 0 else { throw CharterError.conflict("An instance keeps at least one admin.") }
            }
            try db.execute(
                sql: "UPDATE organiser SET is_admin = ? WHERE id = ?", arguments: [isAdmin, organiserID])
            try Self.audit(db, actor, .organiserAdmin, detail: "\(email): \(isAdmin ? "admin" : "not admin")")
        }
    }
}
