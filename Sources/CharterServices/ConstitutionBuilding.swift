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
        var demographics: [Int64: [String: String]] = [:]
        if parameters.weighting != nil {
            let settings = try await store.demographics(conversationID: conversation.id)
            // Without targets nothing is raked: every participant keeps a weight of 1, and the
            // report says so.
            parameters.weighting?.targets = WeightingTargets.targets(settings)
            demographics = try await store.demographicAnswers(conversationID: conversation.id)
        }
        let chosen = parameters
        let answers = demographics
        let sources = try await store.sourceIDs(conversationID: conversation.id)
        let statements = try await store.allStatements(conversationID: conversation.id).map {
            CompilerStatement(
                id: $0.id, sourceID: sources.statements[$0.id], text: $0.text, accepted: $0.moderation == .accepted,
                isMeta: $0.isMeta)
        }
        let snapshot = try await store.analysisSnapshot(conversationID: conversation.id)
        let (votes, _) = ConversationAnalysis.input(snapshot)
        let page = try await pageAnalysis(conversationID: conversation.id, upTo: snapshot.lastVoteEvent, store: store)
        let wording = try await store.principleWordings(conversationID: conversation.id)
        let grouping = try await store.principleGroupings(conversationID: conversation.id)
        let title = conversation.settings.title
        var result = await withCheckedContinuation { continuation in
            ConversationAnalysis.queue.async {
                continuation.resume(
                    returning: ConstitutionCompiler.compile(
                        name: "\(title) — collective constitution", conversation: conversation.slug,
                        statements: statements, votes: votes, parameters: chosen, wording: wording,
                        grouping: grouping, pageAnalysis: page?.result, demographics: answers))
            }
        }
        let analysis = result.analysis
        let lastVoteEvent =
            result.groups.sameAsAnalysisPage ? (page?.lastVoteEvent ?? snapshot.lastVoteEvent) : snapshot.lastVoteEvent
        result.constitution.snapshot = Constitution.Snapshot(
            lastVoteEvent: lastVoteEvent, votes: analysis.voteCount, participants: analysis.participantCount,
            groups: analysis.k, groupSizes: analysis.groups.map(\.size),
            silhouettes: analysis.silhouettes.map(\.silhouette))
        return result
    }

    /// The analysis the organiser's analysis page shows, brought up to date first when votes
    /// arrived since it was stored (stored, so the page then shows the same one). Nil when
    /// there is none or it cannot be read: the compile then clusters from cold.
    static func pageAnalysis(conversationID: Int64, upTo lastVoteEvent: Int64, store: any CharterStore) async throws
        -> (result: AnalysisResult, lastVoteEvent: Int64)?
    {
        var stored = try await store.latestAnalysis(conversationID: conversationID)
        if stored == nil || stored!.lastVoteEvent < lastVoteEvent {
            try await ConversationAnalysis.run(conversationID: conversationID, store: store)
            stored = try await store.latestAnalysis(conversationID: conversationID)
        }
        guard let stored, let result = try? ConversationAnalysis.decode(stored) else { return nil }
        return (result, stored.lastVoteEvent)
    }

    /// Compiles and stores the next version, unless it would be the latest version again:
    /// then nothing is stored and `created` is false (the store makes the check in the same
    /// transaction as the insert, so two publishes at once cannot both add it).
    public static func publish(
        conversation: Conversation, store: any CharterStore, parameters: CompileParameters, by actor: Actor
    ) async throws -> (stored: StoredConstitution, constitution: Constitution, created: Bool) {
        let compiled = try await compile(conversation: conversation, store: store, parameters: parameters).constitution
        do {
            let stored = try await store.publishConstitution(conversationID: conversation.id, by: actor) { version in
                var numbered = compiled
                numbered.version = version
                let hashed = try numbered.hashed()
                return (try hashed.rendered(.json), hashed.sha256 ?? "")
            }
            return (stored, try Constitution.decode(stored.body), true)
        } catch CharterError.constitutionUnchanged(let version) {
            guard
                let latest = try await store.constitutions(conversationID: conversation.id).first(where: {
                    $0.version == version
                })
            else { throw CharterError.constitutionUnchanged(version: version) }
            return (latest, try Constitution.decode(latest.body), false)
        }
    }
}

/// The target shares of a conversation's demographic questions, as the compiler's weighting
/// records them: the questions with targets by key, each option in the organiser's order.
public enum WeightingTargets {
    public static func targets(_ settings: DemographicsSettings) -> [Weighting.QuestionTargets] {
        settings.questions.compactMap { question in
            guard let targets = question.targets, !targets.isEmpty else { return nil }
            return Weighting.QuestionTargets(
                question: question.key,
                shares: question.optionKeys.map { Weighting.OptionShare(option: $0, share: targets[$0] ?? 0) })
        }.sorted { $0.question < $1.question }
    }
}
