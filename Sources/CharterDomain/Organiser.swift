public import Foundation

public struct Organiser: Sendable, Codable, Equatable, Identifiable {
    public var id: Int64
    public var email: String
    public var createdAt: Date
    /// An instance admin manages organiser accounts and holds the owner's rights on every
    /// conversation (conversations made at the command line have no other owner).
    public var isAdmin: Bool

    public init(id: Int64, email: String, createdAt: Date, isAdmin: Bool = false) {
        self.id = id
        self.email = email
        self.createdAt = createdAt
        self.isAdmin = isAdmin
    }

    /// The one spelling of an e-mail address every comparison uses (the account lookup and the
    /// sign-in lockout alike): trimmed of white space and line ends, lowercased, NFC.
    public static func normalisedEmail(_ raw: String) -> String {
        raw.trimmingCharacters(in: .whitespacesAndNewlines).lowercased().precomposedStringWithCanonicalMapping
    }

    public static func validatedEmail(_ raw: String) throws(CharterError) -> String {
        let email = normalisedEmail(raw)
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard TextLength.fits(email, characters: 254), parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
            !email.contains(where: { $0.isWhitespace })
        else {
            throw .invalid(field: "email", message: "not a valid email address")
        }
        return email
    }
}

/// What an organiser may do on one conversation. Every organiser action names the role it
/// needs; an owner may do everything a moderator may.
public enum ConversationRole: String, Sendable, Codable, CaseIterable, Comparable {
    /// Moderates (accepts, rejects, marks meta, rewords) and reads everything.
    case moderator
    /// Edits settings, publishes, imports, exports, runs, and manages the conversation's members.
    case owner

    public static func < (a: ConversationRole, b: ConversationRole) -> Bool {
        a == .moderator && b == .owner
    }

    /// The role an organiser holds on a conversation: an admin is an owner everywhere.
    public static func of(_ organiser: Organiser, membership: ConversationRole?) -> ConversationRole? {
        organiser.isAdmin ? .owner : membership
    }
}

/// One line of the audit log: who did what to which conversation or statement, and when.
public struct AuditEntry: Sendable, Codable, Equatable, Identifiable {
    public var id: Int64
    public var organiserID: Int64?
    public var actor: String
    public var action: String
    public var conversationID: Int64?
    public var statementID: Int64?
    public var detail: String
    public var createdAt: Date

    public init(
        id: Int64, organiserID: Int64?, actor: String, action: String, conversationID: Int64?,
        statementID: Int64?, detail: String, createdAt: Date
    ) {
        self.id = id
        self.organiserID = organiserID
        self.actor = actor
        self.action = action
        self.conversationID = conversationID
        self.statementID = statementID
        self.detail = detail
        self.createdAt = createdAt
    }
}
