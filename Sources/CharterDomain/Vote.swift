public import Foundation

/// Agree is +1 and disagree −1, as in Polis' exports (analysis-spec.md flips the sign where
/// the math needs it).
public enum VoteValue: Int, Sendable, Codable, CaseIterable {
    case agree = 1
    case pass = 0
    case disagree = -1

    public init?(name: String) {
        switch name {
        case "agree": self = .agree
        case "disagree": self = .disagree
        case "pass": self = .pass
        default: return nil
        }
    }

    public var name: String {
        switch self {
        case .agree: "agree"
        case .disagree: "disagree"
        case .pass: "pass"
        }
    }
}

public struct Vote: Sendable, Codable, Equatable {
    public var participantID: Int64
    public var statementID: Int64
    public var value: VoteValue
    public var createdAt: Date

    public init(participantID: Int64, statementID: Int64, value: VoteValue, createdAt: Date) {
        self.participantID = participantID
        self.statementID = statementID
        self.value = value
        self.createdAt = createdAt
    }
}

/// What a committed vote did.
public enum VoteOutcome: Sendable, Equatable {
    /// A first vote on the statement.
    case recorded
    /// The participant changed the vote on the statement voted on last ("undo").
    case changed(from: VoteValue)
}
