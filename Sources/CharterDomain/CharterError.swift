/// The errors a request can cause by what it asks for. Each maps to one 4xx status in HTTP;
/// anything else is a fault of ours.
public enum CharterError: Error, Sendable, Equatable {
    case invalid(field: String, message: String)
    case notFound(String)
    case duplicateStatement(existingID: Int64)
    case duplicateVote
    case voteNotChangeable
    case conversationClosed
    case statementNotVotable
    case statementsNotAllowed
    case notEnoughVotesToSubmit(needed: Int)
    case conflict(String)
    /// Publishing would store the latest version's content again.
    case constitutionUnchanged(version: Int)

    public var code: String {
        switch self {
        case .invalid: "invalid"
        case .notFound: "not_found"
        case .duplicateStatement: "duplicate_statement"
        case .duplicateVote: "duplicate_vote"
        case .voteNotChangeable: "vote_not_changeable"
        case .conversationClosed: "conversation_closed"
        case .statementNotVotable: "statement_not_votable"
        case .statementsNotAllowed: "statements_not_allowed"
        case .notEnoughVotesToSubmit: "not_enough_votes"
        case .conflict: "conflict"
        case .constitutionUnchanged: "constitution_unchanged"
        }
    }

    public var message: String {
        switch self {
        case .invalid(let field, let message): message.isEmpty ? "\(field) is invalid" : message
        case .notFound(let what): "\(what) not found."
        case .duplicateStatement: "That statement has already been made."
        case .duplicateVote: "You have already cast this vote on this statement."
        case .voteNotChangeable: "Only the vote on the statement you voted on last can be changed."
        case .conversationClosed: "This conversation is closed; results are pending."
        case .statementNotVotable: "That statement cannot be voted on."
        case .statementsNotAllowed: "This conversation does not accept statements from participants."
        case .notEnoughVotesToSubmit(let needed):
            "Please vote on at least \(needed) statements before adding your own."
        case .conflict(let message): message
        case .constitutionUnchanged(let version):
            "Nothing changed since version \(version): the constitution would be the same, so no new version was published."
        }
    }
}
