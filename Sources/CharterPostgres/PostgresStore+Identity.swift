public import CharterDomain
public import CharterStore
public import Foundation

// Participants and their panel ids; organisers, their credentials, sessions and roles; the audit
// log and settings. The checks SQLite's single writer makes safe are made race-free here by
// UNIQUE constraints (`ON CONFLICT`), row locks (`FOR UPDATE`) or advisory locks.
extension PostgresStore {
    // MARK: Participants

    public func participant(conversationID: Int64, identity: ParticipantIdentity) async throws -> Participant {
        if let existing = try await existingParticipant(conversationID: conversationID, identity: identity) {
            return existing
        }
        return try await write { sql in
            guard try await sql.conversation(id: conversationID) != nil else {
                throw CharterError.notFound("Conversation")
            }
            return try await sql.participantCreatingIfAbsent(
                conversationID: conversationID, identity: identity, at: Date()
            ).participant
        }
    }

    public func existingParticipant(conversationID: Int64, identity: ParticipantIdentity) async throws
        -> Participant?
    {
        try await readOne { sql in try await sql.participant(conversationID: conversationID, identity: identity) }
    }

    public func participant(id: Int64) async throws -> Participant? {
        try await readOne { sql in
            try await sql.row("SELECT * FROM participant WHERE id = ?", id).map(Participant.init)
        }
    }

    public func participants(conversationID: Int64) async throws -> [Participant] {
        try await readOne { sql in
            try await sql.rows("SELECT * FROM participant WHERE conversation_id = ? ORDER BY id", conversationID)
                .map(Participant.init)
        }
    }

    public func flaggedParticipants(conversationID: Int64) async throws -> [FlaggedParticipant] {
        try await readOne { sql in
            try await sql.rows(
                """
                SELECT p.*, (SELECT COUNT(*) FROM vote v WHERE v.participant_id = p.id) AS votes
                FROM participant p
                WHERE p.conversation_id = ? AND p.flagged_at IS NOT NULL
                ORDER BY p.flagged_at DESC, p.id
                """, conversationID
            ).map { row in
                FlaggedParticipant(
                    participant: try Participant(row), fastVotes: try row("fast_votes", as: Int.self),
                    votes: Int(try row("votes", as: Int64.self)), flaggedAt: try row("flagged_at"))
            }
        }
    }

    // MARK: Panel ids

    public func bindXID(conversationID: Int64, xid: String, binder: String) async throws -> XIDBinding {
        try await write { sql in
            guard try await sql.conversation(id: conversationID) != nil else {
                throw CharterError.notFound("Conversation")
            }
            let (participant, created) = try await sql.participantCreatingIfAbsent(
                conversationID: conversationID, identity: .external(xid), at: Date())
            // The primary key on participant_id decides between binders racing; a holder released
            // between our conflict and our read leaves the xid free, so try again.
            for _ in 0..<3 {
                if try await sql.value(
                    String.self,
                    """
                    INSERT INTO participant_binding (participant_id, binder, bound_at) VALUES (?, ?, ?)
                    ON CONFLICT (participant_id) DO NOTHING RETURNING binder
                    """, participant.id, binder, Date()) != nil
                {
                    return XIDBinding(participant: participant, held: true, created: created)
                }
                if let holder = try await sql.value(
                    String.self, "SELECT binder FROM participant_binding WHERE participant_id = ?", participant.id)
                {
                    return XIDBinding(participant: participant, held: holder == binder, created: created)
                }
            }
            throw StorageUnavailable(reason: "a panel id's binding kept changing while it was being bound")
        }
    }

    public func xidBinder(conversationID: Int64, xid: String) async throws -> String? {
        try await readOne { sql in
            try await sql.value(
                String.self,
                """
                SELECT b.binder FROM participant_binding b JOIN participant p ON p.id = b.participant_id
                WHERE p.conversation_id = ? AND p.xid = ?
                """, conversationID, xid)
        }
    }

    public func releaseXID(conversationID: Int64, xid: String, by actor: Actor) async throws -> Bool {
        try await write { sql in
            let released =
                try await sql.execute(
                    """
                    DELETE FROM participant_binding WHERE participant_id =
                        (SELECT id FROM participant WHERE conversation_id = ? AND xid = ?)
                    RETURNING participant_id
                    """, conversationID, xid) > 0
            if released {
                try await sql.audit(actor, .participantRelease, conversationID: conversationID, detail: xid)
            }
            return released
        }
    }

    public func setAllowedXIDs(conversationID: Int64, xids: [String], by actor: Actor) async throws {
        try await write { sql in
            // The conversation's row lock orders two replacements of one list.
            guard try await sql.conversation(id: conversationID, lock: true) != nil else {
                throw CharterError.notFound("Conversation")
            }
            try await sql.execute("DELETE FROM xid_allowed WHERE conversation_id = ?", conversationID)
            try await sql.execute(
                "INSERT INTO xid_allowed (conversation_id, xid) SELECT ?, unnest(?::text[]) ON CONFLICT DO NOTHING",
                conversationID, xids)
            let count = try await sql.count(
                "SELECT COUNT(*) FROM xid_allowed WHERE conversation_id = ?", conversationID)
            try await sql.audit(
                actor, .conversationAllowList, conversationID: conversationID, detail: "\(count) panel ids")
        }
    }

    public func isXIDAllowed(conversationID: Int64, xid: String) async throws -> Bool {
        try await readOne { sql in
            try await sql.value(
                Bool.self, "SELECT EXISTS (SELECT 1 FROM xid_allowed WHERE conversation_id = ? AND xid = ?)",
                conversationID, xid) == true
        }
    }

    public func allowedXIDCount(conversationID: Int64) async throws -> Int {
        try await readOne { sql in
            try await sql.count("SELECT COUNT(*) FROM xid_allowed WHERE conversation_id = ?", conversationID)
        }
    }

    public func recordParticipantOrigin(participantID: Int64, addressKey: String) async throws {
        try await write { sql in
            _ = try await sql.execute(
                "INSERT INTO participant_origin (participant_id, address_key) VALUES (?, ?) ON CONFLICT DO NOTHING",
                participantID, addressKey)
        }
    }

    public func joiners(conversationID: Int64) async throws -> [BallotStuffing.Joiner] {
        try await readOne { sql in
            try await sql.rows(
                """
                SELECT p.id, p.created_at, o.address_key FROM participant p
                LEFT JOIN participant_origin o ON o.participant_id = p.id
                WHERE p.conversation_id = ?
                ORDER BY p.id
                """, conversationID
            ).map { row in
                BallotStuffing.Joiner(
                    participant: try row.at(0, as: Int64.self), createdAt: try row.at(1, as: Date.self),
                    address: try row.at(2, as: String?.self))
            }
        }
    }

    // MARK: Organisers and credentials

    public func createOrganiser(email: String, passwordHash: String, isAdmin: Bool) async throws -> Organiser {
        let email = try Organiser.validatedEmail(email)
        return try await write { sql in
            // Serialises organiser creation (and admin changes), so only one can be the first.
            try await sql.lock("organiser")
            let first = try await sql.count("SELECT COUNT(*) FROM organiser") == 0
            guard
                let row = try await sql.row(
                    """
                    INSERT INTO organiser (email, password_hash, created_at, is_admin) VALUES (?, ?, ?, ?)
                    ON CONFLICT (email) DO NOTHING RETURNING *
                    """, email, passwordHash, Date(), isAdmin || first)
            else { throw CharterError.conflict("An organiser with the email \(email) already exists.") }
            let organiser = try Organiser(row)
            try await sql.audit(.system, .organiserCreate, detail: email)
            return organiser
        }
    }

    public func organiserCredentials(email: String) async throws -> (Organiser, passwordHash: String)? {
        let email = Organiser.normalisedEmail(email)
        return try await readOne { sql in
            guard let row = try await sql.row("SELECT * FROM organiser WHERE email = ?", email) else { return nil }
            return (try Organiser(row), try row("password_hash", as: String.self))
        }
    }

    public func organiser(id: Int64) async throws -> Organiser? {
        try await readOne { sql in try await sql.row("SELECT * FROM organiser WHERE id = ?", id).map(Organiser.init) }
    }

    public func storeAPIToken(organiserID: Int64, tokenHash: String, label: String) async throws {
        try await write { sql in
            guard
                try await sql.value(Bool.self, "SELECT EXISTS (SELECT 1 FROM organiser WHERE id = ?)", organiserID)
                    == true
            else { throw CharterError.notFound("Organiser") }
            try await sql.execute(
                "INSERT INTO api_token (organiser_id, token_hash, label, created_at) VALUES (?, ?, ?, ?)",
                organiserID, tokenHash, label, Date())
            try await sql.audit(Actor(organiserID: organiserID, name: "system"), .tokenCreate, detail: label)
        }
    }

    public func organiser(apiTokenHash: String) async throws -> Organiser? {
        try await readOne { sql in
            try await sql.row(
                "SELECT o.* FROM organiser o JOIN api_token t ON t.organiser_id = o.id WHERE t.token_hash = ?",
                apiTokenHash
            ).map(Organiser.init)
        }
    }

    public func storeSession(organiserID: Int64, tokenHash: String, expiresAt: Date) async throws {
        try await write { sql in
            try await sql.execute("DELETE FROM organiser_session WHERE expires_at < ?", Date())
            try await sql.execute(
                "INSERT INTO organiser_session (token_hash, organiser_id, expires_at, created_at) VALUES (?, ?, ?, ?)",
                tokenHash, organiserID, expiresAt, Date())
        }
    }

    public func organiser(sessionHash: String, at now: Date) async throws -> Organiser? {
        try await readOne { sql in
            try await sql.row(
                """
                SELECT o.* FROM organiser o JOIN organiser_session s ON s.organiser_id = o.id
                WHERE s.token_hash = ? AND s.expires_at > ?
                """, sessionHash, now
            ).map(Organiser.init)
        }
    }

    public func deleteSession(tokenHash: String) async throws {
        try await write { sql in
            _ = try await sql.execute("DELETE FROM organiser_session WHERE token_hash = ?", tokenHash)
        }
    }

    // MARK: Organisers' roles

    public func membership(conversationID: Int64, organiserID: Int64) async throws -> ConversationRole? {
        try await readOne { sql in
            try await sql.value(
                String.self, "SELECT role FROM conversation_member WHERE conversation_id = ? AND organiser_id = ?",
                conversationID, organiserID
            ).flatMap(ConversationRole.init(rawValue:))
        }
    }

    public func setMembership(conversationID: Int64, organiserID: Int64, role: ConversationRole?, by actor: Actor)
        async throws
    {
        try await write { sql in
            // The conversation's row lock orders changes to its members, so two removals of
            // its last two owners cannot both see another owner left.
            guard try await sql.conversation(id: conversationID, lock: true) != nil else {
                throw CharterError.notFound("Conversation")
            }
            guard let email = try await sql.value(String.self, "SELECT email FROM organiser WHERE id = ?", organiserID)
            else { throw CharterError.notFound("Organiser") }
            let current = try await sql.value(
                String.self, "SELECT role FROM conversation_member WHERE conversation_id = ? AND organiser_id = ?",
                conversationID, organiserID)
            if current == ConversationRole.owner.rawValue, role != .owner {
                let owners = try await sql.count(
                    "SELECT COUNT(*) FROM conversation_member WHERE conversation_id = ? AND role = 'owner'",
                    conversationID)
                guard owners > 1 else {
                    throw CharterError.conflict("A conversation keeps at least one owner; add another owner first.")
                }
            }
            if let role {
                try await sql.execute(
                    """
                    INSERT INTO conversation_member (conversation_id, organiser_id, role) VALUES (?, ?, ?)
                    ON CONFLICT (conversation_id, organiser_id) DO UPDATE SET role = excluded.role
                    """, conversationID, organiserID, role.rawValue)
            } else {
                try await sql.execute(
                    "DELETE FROM conversation_member WHERE conversation_id = ? AND organiser_id = ?", conversationID,
                    organiserID)
            }
            try await sql.audit(
                actor, .conversationMember, conversationID: conversationID,
                detail: "\(email): \(role?.rawValue ?? "removed")")
        }
    }

    public func members(conversationID: Int64) async throws -> [(Organiser, ConversationRole)] {
        try await readOne { sql in
            try await sql.rows(
                """
                SELECT o.*, m.role AS member_role FROM conversation_member m JOIN organiser o ON o.id = m.organiser_id
                WHERE m.conversation_id = ? ORDER BY m.role COLLATE "C" DESC, o.email COLLATE "C"
                """, conversationID
            ).compactMap { row -> (Organiser, ConversationRole)? in
                guard let role = ConversationRole(rawValue: try row("member_role", as: String.self)) else {
                    return nil
                }
                return (try Organiser(row), role)
            }
        }
    }

    public func memberConversationIDs(organiserID: Int64) async throws -> Set<Int64> {
        try await readOne { sql in
            Set(
                try await sql.values(
                    Int64.self, "SELECT conversation_id FROM conversation_member WHERE organiser_id = ?", organiserID))
        }
    }

    public func organisers() async throws -> [Organiser] {
        try await readOne { sql in
            try await sql.rows("SELECT * FROM organiser ORDER BY email COLLATE \"C\"").map(Organiser.init)
        }
    }

    public func setAdmin(organiserID: Int64, isAdmin: Bool, by actor: Actor) async throws {
        try await write { sql in
            // The same lock as createOrganiser's: two demotions cannot both see another admin left.
            try await sql.lock("organiser")
            guard let email = try await sql.value(String.self, "SELECT email FROM organiser WHERE id = ?", organiserID)
            else { throw CharterError.notFound("Organiser") }
            if !isAdmin {
                let admins = try await sql.count(
                    "SELECT COUNT(*) FROM organiser WHERE is_admin AND id <> ?", organiserID)
                guard admins > 0 else { throw CharterError.conflict("An instance keeps at least one admin.") }
            }
            try await sql.execute("UPDATE organiser SET is_admin = ? WHERE id = ?", isAdmin, organiserID)
            try await sql.audit(actor, .organiserAdmin, detail: "\(email): \(isAdmin ? "admin" : "not admin")")
        }
    }

    // MARK: Audit and settings

    public func auditLog(conversationID: Int64?, offset: Int, limit: Int) async throws -> Page<AuditEntry> {
        let (whereClause, arguments): (String, [any SQLBindable]) =
            conversationID.map { ("WHERE conversation_id = ?", [$0]) } ?? ("", [])
        let limit = max(1, min(limit, 500))
        let offset = max(0, offset)
        return try await read { sql in
            let total = Int(
                try await sql.rows("SELECT COUNT(*) FROM audit_log \(whereClause)", values: arguments).first?
                    .at(0, as: Int64.self) ?? 0)
            let items = try await sql.rows(
                "SELECT * FROM audit_log \(whereClause) ORDER BY id DESC LIMIT ? OFFSET ?",
                values: arguments + [limit, offset]
            ).map(AuditEntry.init)
            return Page(items: items, total: total, offset: offset, limit: limit)
        }
    }

    public func setting(_ key: String) async throws -> String? {
        try await readOne { sql in try await sql.value(String.self, "SELECT value FROM setting WHERE key = ?", key) }
    }

    public func settingInsertingIfAbsent(_ key: String, value: String) async throws -> String {
        try await write { sql in
            // A racing insert of the same key waits for the first to commit, then does nothing.
            try await sql.execute("INSERT INTO setting (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING", key, value)
            guard let stored = try await sql.value(String.self, "SELECT value FROM setting WHERE key = ?", key) else {
                throw StorageUnavailable(reason: "the setting \(key) was removed while it was being stored")
            }
            return stored
        }
    }

    public func deleteSetting(_ key: String) async throws {
        try await write { sql in _ = try await sql.execute("DELETE FROM setting WHERE key = ?", key) }
    }

    public func counts() async throws -> StoreCounts {
        try await read { sql in
            guard
                let row = try await sql.row(
                    """
                    SELECT (SELECT COUNT(*) FROM conversation) AS conversations,
                           (SELECT COUNT(*) FROM participant) AS participants,
                           (SELECT COUNT(*) FROM statement) AS statements,
                           (SELECT COUNT(*) FROM vote) AS votes
                    """)
            else { return StoreCounts(conversations: 0, participants: 0, statements: 0, votes: 0) }
            return StoreCounts(
                conversations: Int(try row("conversations", as: Int64.self)),
                participants: Int(try row("participants", as: Int64.self)),
                statements: Int(try row("statements", as: Int64.self)), votes: Int(try row("votes", as: Int64.self)))
        }
    }
}
