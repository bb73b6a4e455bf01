public import Foundation

public struct Organiser: Sendable, Codable, Equatable, Identifiable {
    public var id: Int64
    public var email: String
    public var createdAt: Date

    public init(id: Int64, email: String, createdAt: Date) {
        self.id = id
        self.email = email
        self.createdAt = createdAt
    }

    public static func validatedEmail(_ raw: String) throws(CharterError) -> String {
        let email = raw.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
            !email.contains(where: { $0.isWhitespace })
        else {
            throw .invalid(field: "email", message: "not a valid email address")
        }
        return email
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
