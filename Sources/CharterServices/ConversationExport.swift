public import CharterDomain
import CharterMath
public import CharterStore
import Foundation

/// Gathers a conversation from the store for `PolisExportWriter`: the Polis files, and
/// `participant-demographics.csv` beside them when the conversation asks demographic questions.
public enum ConversationExport {
    public static func polisFiles(conversation: Conversation, store: any CharterStore) async throws -> [String: String]
    {
        let statements = try await store.allStatements(conversationID: conversation.id)
        let sources = try await store.sourceIDs(conversationID: conversation.id)
        var groups: [Int64: Int] = [:]
        if let stored = try await store.latestAnalysis(conversationID: conversation.id),
            let result = try? ConversationAnalysis.decode(stored)
        {
            for p in result.participants { if let g = p.group { groups[p.id] = g } }
        }
        return PolisExportWriter.files(
            .init(
                conversation: conversation, statements: statements,
                participants: try await store.participants(conversationID: conversation.id),
                events: try await store.voteEvents(conversationID: conversation.id),
                participantSources: sources.participants, statementSources: sources.statements, groups: groups,
                demographicQuestions: try await store.demographics(conversationID: conversation.id).questions.map(
                    \.key),
                demographicAnswers: try await store.demographicAnswers(conversationID: conversation.id)))
    }
}
