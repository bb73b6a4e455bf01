public import Foundation

/// Someone taking part in one conversation: known by a panel's external id (`xid`) or by the
/// random id of an anonymous browser cookie.
public struct Participant: Sendable, Codable, Equatable, Identifiable {
    public var id: Int64
    public var conversationID: Int64
    public var xid: String?
    public var createdAt: Date

    public init(id: Int64, conversationID: Int64, xid: String?, createdAt: Date) {
        self.id = id
        self.conversationID = conversationID
        self.xid = xid
        self.createdAt = createdAt
    }
}

/// How a request names its participant. Only `.id` needs the participant to exist already;
/// the store creates the others inside the transaction of their first vote or statement, so a
/// refused request leaves no participant behind.
public enum ParticipantIdentity: Sendable, Equatable, Hashable {
    /// A participant registered earlier (through the API), by row id.
    case id(Int64)
    /// An external panel id, unique within a conversation.
    case external(String)
    /// The random id carried in an anonymous participant's signed cookie.
    case anonymous(String)

    /// The xid every comparison uses: trimmed and in Unicode NFC, so "é" typed precomposed and
    /// decomposed name one participant.
    public static func validatedXID(_ raw: String) throws(CharterError) -> String {
        guard TextLength.fits(raw, characters: 400) else {
            throw .invalid(
                field: "xid", message: "xid must be 1–200 characters on one line, without control characters")
        }
        let xid = raw.trimmingCharacters(in: .whitespacesAndNewlines).precomposedStringWithCanonicalMapping
        guard !xid.isEmpty, TextLength.fits(xid, characters: 200), !xid.contains(where: { $0.isNewline }),
            !ControlCharacters.present(in: xid)
        else {
            throw .invalid(
                field: "xid", message: "xid must be 1–200 characters on one line, without control characters")
        }
        return xid
    }
}

public struct VotingProgress: Sendable, Equatable, Codable {
    public var voted: Int
    public var total: Int
    public init(voted: Int, total: Int) {
        self.voted = voted
        self.total = total
    }
}
