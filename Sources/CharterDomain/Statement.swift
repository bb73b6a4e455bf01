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
    /// The language it is written in (a lower-case BCP 47 tag); nil: its conversation's. See
    /// `language(in:)`.
    public var language: String?

    public init(
        id: Int64, conversationID: Int64, authorID: Int64?, text: String, isSeed: Bool, isMeta: Bool,
        moderation: ModerationState, reason: String?, createdAt: Date, originalText: String? = nil,
        rewordedFrom: Int64? = nil, language: String? = nil
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
        self.language = language
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
    /// What is wrong with a statement's text, for a participant's page to say in their language.
    public enum Problem: Sendable, Equatable {
        case empty
        case controlCharacters
        /// `characters` is nil when the text is far beyond the limit (not worth counting).
        case tooLong(characters: Int?, limit: Int)
    }

    /// Trims the text and checks its length; returns the text to store.
    public static func validated(_ raw: String, maxLength: Int) throws(CharterError) -> String {
        let text = trimmed(raw)
        switch problem(ofTrimmed: text, maxLength: maxLength) {
        case nil: return text
        case .empty: throw .invalid(field: "text", message: "The statement is empty.")
        case .controlCharacters: throw .invalid(field: "text", message: "The statement contains control characters.")
        case .tooLong(let characters, let limit):
            let length = characters.map { "\($0) characters" } ?? "far too"
            throw .invalid(field: "text", message: "The statement is \(length) long; the limit is \(limit) characters.")
        }
    }

    /// The problem `validated` refuses the text for, or nil when it is accepted.
    public static func problem(_ raw: String, maxLength: Int) -> Problem? {
        problem(ofTrimmed: trimmed(raw), maxLength: maxLength)
    }

    private static func trimmed(_ raw: String) -> String {
        // A browser's textarea sends CRLF line ends; one line end is one "\n" here.
        raw.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func problem(ofTrimmed text: String, maxLength: Int) -> Problem? {
        if text.isEmpty { return .empty }
        if text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && $0 != "\n" }) {
            return .controlCharacters
        }
        if !TextLength.fits(text, characters: maxLength) {
            let far = text.utf8.count > maxLength * TextLength.bytesPerCharacter
            return .tooLong(characters: far ? nil : text.count, limit: maxLength)
        }
        return nil
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
