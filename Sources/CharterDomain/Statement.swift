public import Foundation

public enum ModerationState: String, Sendable, Codable, CaseIterable {
    case pending
    case accepted
    case rejected
}

public struct Statement: Sendable, Codable, Equatable, Identifiable {
    public var id: Int64
    public var conversationID: Int64
    /// Nil for statements seeded by an organiser.
    public var authorID: Int64?
    public var text: String
    public var isSeed: Bool
    public var isMeta: Bool
    public var moderation: ModerationState
    public var reason: String?
    public var createdAt: Date
    /// The wording the statement was written with, when a moderator reworded it before anyone
    /// else voted on it; nil when it was never reworded.
    public var originalText: String?
    /// The statement this one is a moderator's reworded copy of (that one keeps its own text).
    public var rewordedFrom: Int64?

    public init(
        id: Int64, conversationID: Int64, authorID: Int64?, text: String, isSeed: Bool, isMeta: Bool,
        moderation: ModerationState, reason: String?, createdAt: Date, originalText: String? = nil,
        rewordedFrom: Int64? = nil
    ) {
        self.id = id
        self.conversationID = conversationID
        self.authorID = authorID
        self.text = text
        self.isSeed = isSeed
        self.isMeta = isMeta
        self.moderation = moderation
        self.reason = reason
        self.createdAt = createdAt
        self.originalText = originalText
        self.rewordedFrom = rewordedFrom
    }
}

/// Text that holds a control character (NUL, ESC, bidi-unrelated C0/C1 codes) other than the
/// line ends and tabs a field allows; such text is refused, never cut short or stored.
public enum ControlCharacters {
    public static func present(in text: String, allowing allowed: Set<Unicode.Scalar> = []) -> Bool {
        text.unicodeScalars.contains { $0.properties.generalCategory == .control && !allowed.contains($0) }
    }
}

/// The rules a statement's text must meet, whoever writes it.
public enum StatementText {
    /// Trims the text and checks its length; returns the text to store.
    public static func validated(_ raw: String, maxLength: Int) throws(CharterError) -> String {
        // A browser's textarea sends CRLF line ends; one line end is one "\n" here.
        let text = raw.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else {
            throw .invalid(field: "text", message: "The statement is empty.")
        }
        guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && $0 != "\n" }) else {
            throw .invalid(field: "text", message: "The statement contains control characters.")
        }
        guard TextLength.fits(text, characters: maxLength) else {
            let length =
                text.utf8.count > maxLength * TextLength.bytesPerCharacter ? "far too" : "\(text.count) characters"
            throw .invalid(
                field: "text",
                message: "The statement is \(length) long; the limit is \(maxLength) characters.")
        }
        return text
    }

    /// The key under which two statements count as the same: case-folded, with every run of
    /// white space made one space, so "Be  Honest" duplicates "be honest".
    public static func duplicateKey(_ text: String) -> String {
        text.lowercased()
            .split(whereSeparator: { $0.isWhitespace || $0.isNewline })
            .joined(separator: " ")
    }
}

/// What an organiser does to statements in the moderation queue.
public enum ModerationAction: Sendable, Equatable {
    case accept
    case reject(reason: String)
    case markMeta(Bool)
}
