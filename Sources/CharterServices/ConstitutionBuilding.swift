public import CharterCompiler
public import CharterDomain
import CharterMath
public import CharterStore
import Foundation

/// Compiles and publishes a conversation's constitution from the store.
public enum ConstitutionBuilding {
    /// Compiles the conversation's current votes with the organisers' wording edits.
    public static func compile(conversation: Conversation, store: any CharterStore, parameters: CompileParameters)
        async throws -> CompileResult
    {
        var parameters = parameters
        if parameters.filters.excludeFlagged == true {
            parameters.filters.flagged = Set(
                try await ParticipantFlagging.flags(conversationID: conversation.id, store: store).map(\.participant.id)
            )
        }
        let chosen = parameters
        let sources = try await store.sourceIDs(conversationID: conversation.id)
        let statements = try await store.allStatements(conversationID: conversation.id).map {
            CompilerStatement(
                id: $0.id, sourceID: sources.statements[$0.id], text: $0.text, accepted: $0.moderation == .accepted,
                isMeta: $0.isMeta)
        }
        let snapshot = try await store.analysisSnapshot(conversationID: conversation.id)
        let (votes, _) = ConversationAnalysis.input(snapshot)
        let wording = try await store.principleWordings(conversationID: conversation.id)
        let grouping = try await store.principleGroupings(conversationID: conversation.id)
        let title = conversation.settings.title
        var result = await withCheckedContinuation { continuation in
            ConversationAnalysis.queue.async {
                continuation.resume(
                    returning: ConstitutionCompiler.compile(
                        name: "\(title) — collective constitution", conversation: conversation.slug,
                        statements: statements, votes: votes, parameters: chosen, wording: wording,
                        grouping: grouping))
            }
        }
        let analysis = result.analysis
        result.constitution.snapshot = Constitution.Snapshot(
            lastVoteEvent: snapshot.lastVoteEvent, votes: analysis.voteCount, participants: analysis.participantCount,
            groups: analysis.k, groupSizes: analysis.groups.map(\.size),
            silhouettes: analysis.silhouettes.map(\.silhouette))
        return result
    }

    /// Compiles and stores the next version.
    public static func publish(
        conversation: Conversation, store: any CharterStore, parameters: CompileParameters, by actor: Actor
    ) async throws -> (stored: StoredConstitution, constitution: Constitution) {
        let compiled = try await compile(conversation: conversation, store: store, parameters: parameters).constitution
        let stored = try await store.publishConstitution(conversationID: conversation.id, by: actor) { version in
            var numbered = compiled
            numbered.version = version
            let hashed = try numbered.hashed()
            return (try hashed.rendered(.json), hashed.sha256 ?? "")
        }
        return (stored, try Constitution.decode(stored.body))
    }
}
