public import CharterDomain
public import Foundation

extension ConversationStore {
    /// Every statement of a conversation, oldest first, read page by page.
    public func allStatements(conversationID: Int64) async throws -> [Statement] {
        var all: [Statement] = []
        while true {
            let page = try await statements(
                conversationID: conversationID, filter: StatementFilter(offset: all.count, limit: 500))
            all += page.items
            if page.items.isEmpty || all.count >= page.total { return all }
        }
    }
}

/// Charter's storage interface: the focused stores below, composed. A use case that needs only
/// some of them takes those (`any RunStore & ConstitutionStore`). Every operation that changes
/// data is one transaction: it happens whole, with its audit entry, or not at all, and returns
/// only once the transaction is durable. The rules a write must meet are `CharterDomain`'s
/// (`VoteRules`, `SubmissionRules`, `Conversation.shows`, `AuditAction`); a back end reads the
/// state they need inside its transaction, asks them, and throws the `CharterError` they give,
/// as `CharterStoreContract` checks.
public protocol CharterStore: ConversationStore, VoteStore, IdentityStore, AnalysisStore, ConstitutionStore, RunStore,
    AuditStore, DemographicsStore, TranslationStore
{}

/// Conversations, their statements and moderation.
public protocol ConversationStore: Sendable {
    // MARK: Conversations
    func createConversation(_ settings: ConversationSettings, by actor: Actor) async throws -> Conversation
    func updateConversation(id: Int64, _ settings: ConversationSettings, by actor: Actor) async throws -> Conversation
    func conversation(id: Int64) async throws -> Conversation?
    func conversation(slug: String) async throws -> Conversation?
    func conversations() async throws -> [Conversation]

    // MARK: Statements
    /// Adds organiser-written statements, accepted at once, written in `language` (nil: the
    /// conversation's). Invalid or duplicate lines are skipped and reported, the rest are added
    /// together.
    func addSeedStatements(conversationID: Int64, texts: [String], language: String?, by actor: Actor) async throws
        -> SeedResult
    /// A participant's own statement, written in `language` (nil: the conversation's); it is
    /// also the author's agree vote. Creates the participant first if `participant` names one
    /// not yet seen.
    func submitStatement(
        conversationID: Int64, participant: ParticipantIdentity, text: String, language: String?, at now: Date
    ) async throws -> Statement
    func statement(id: Int64) async throws -> Statement?
    func statements(conversationID: Int64, filter: StatementFilter) async throws -> Page<Statement>
    /// The statements participants see, in the order they were written.
    func visibleStatements(conversationID: Int64) async throws -> [Statement]
    /// The visible statements the participant has not voted on yet.
    func unvotedStatements(conversationID: Int64, participantID: Int64?) async throws -> [Statement]
    func moderate(statementIDs: [Int64], conversationID: Int64, action: ModerationAction, by actor: Actor)
        async throws -> [Statement]
    /// A moderator's new wording for a statement nobody but its author has voted on; the first
    /// wording stays in `originalText` and the audit entry holds both. A statement someone else
    /// has voted on keeps its text (`CharterError.conflict`): reword it as a copy instead.
    func rewordStatement(id: Int64, conversationID: Int64, text: String, by actor: Actor) async throws -> Statement
    /// A new statement in a moderator's wording, accepted, linked to the one it rewords
    /// (`rewordedFrom`), which keeps its text, votes and moderation; audited.
    func addRewordedCopy(of id: Int64, conversationID: Int64, text: String, by actor: Actor) async throws
        -> Statement
    /// Agree, disagree and pass counts of the current votes on these statements of the
    /// conversation; a statement without votes is absent.
    func voteTallies(conversationID: Int64, statementIDs: [Int64]) async throws -> [Int64: VoteTally]
    /// The conversation's participants and votes, in total and per hour (UTC).
    func activity(conversationID: Int64) async throws -> ConversationActivity
}

/// The language each statement is written in and organisers' translations of statements. A
/// translation is never into the statement's own language (`StatementTranslations` holds the
/// rules); votes always count for the statement, whichever wording was read.
public protocol TranslationStore: Sendable {
    // MARK: Languages and translations
    /// Records the language a statement is written in (nil: its conversation's); audited. A
    /// language the statement has a translation into is refused (`CharterError.conflict`).
    func setStatementLanguage(id: Int64, conversationID: Int64, language: String?, by actor: Actor) async throws
        -> Statement
    /// Adds or replaces the statement's translation into `language`, checked by
    /// `StatementTranslations.validated` in the same transaction; audited.
    func setTranslation(statementID: Int64, conversationID: Int64, language: String, text: String, by actor: Actor)
        async throws -> StatementTranslation
    /// Deletes the statement's translation into `language`; audited. False when it had none.
    func deleteTranslation(statementID: Int64, conversationID: Int64, language: String, by actor: Actor) async throws
        -> Bool
    /// A statement's translations, by language.
    func translations(statementID: Int64) async throws -> [StatementTranslation]
    /// Every translation of the conversation's statements, read in one query: statement id →
    /// its translations, by language.
    func translations(conversationID: Int64) async throws -> [Int64: [StatementTranslation]]
}

/// Votes: recorded by group commit, read back for progress and the analysis.
public protocol VoteStore: Sendable {
    // MARK: Votes
    /// Records a vote; returns once it is committed durably. Creates the participant first if
    /// `participant` names one not yet seen. With a `slug`, the conversation must still have it
    /// (callers that looked the id up from a slug they keep in memory rely on this).
    func castVote(
        conversationID: Int64, slug: String?, participant: ParticipantIdentity, statementID: Int64,
        value: VoteValue, at now: Date
    ) async throws -> VoteReceipt
    func progress(conversationID: Int64, participantID: Int64?) async throws -> VotingProgress
    /// The participant's most recent vote, which is the one they may still change.
    func lastVote(participantID: Int64) async throws -> Vote?
    /// The current votes of a conversation (latest per participant and statement).
    func votes(conversationID: Int64) async throws -> [Vote]
    /// Every vote event ever recorded for a conversation, oldest first.
    func voteEvents(conversationID: Int64) async throws -> [Vote]
}

/// Who takes part: participants and their panel ids, organisers, their credentials and roles.
public protocol IdentityStore: Sendable {
    // MARK: Participants
    /// Returns the participant with this identity in the conversation, creating it if absent.
    func participant(conversationID: Int64, identity: ParticipantIdentity) async throws -> Participant
    /// Returns the participant with this identity if it exists; never creates one.
    func existingParticipant(conversationID: Int64, identity: ParticipantIdentity) async throws -> Participant?
    func participant(id: Int64) async throws -> Participant?
    func participants(conversationID: Int64) async throws -> [Participant]
    /// Participants who voted faster than a person can read, most recently flagged first.
    func flaggedParticipants(conversationID: Int64) async throws -> [FlaggedParticipant]

    // MARK: Panel ids (the conversation's `xid_policy`)
    /// The participant with this xid, created if absent, bound to `binder` (a browser or an API
    /// registration) unless another binder holds it; the outcome says which. One transaction,
    /// so two first uses racing bind one of them.
    func bindXID(conversationID: Int64, xid: String, binder: String) async throws -> XIDBinding
    /// Who holds an xid's participant, if anyone.
    func xidBinder(conversationID: Int64, xid: String) async throws -> String?
    /// Frees an xid for the next browser or registration; audited. False when it was not bound.
    func releaseXID(conversationID: Int64, xid: String, by actor: Actor) async throws -> Bool
    /// Replaces the conversation's allow-list; audited with the count.
    func setAllowedXIDs(conversationID: Int64, xids: [String], by actor: Actor) async throws
    func isXIDAllowed(conversationID: Int64, xid: String) async throws -> Bool
    func allowedXIDCount(conversationID: Int64) async throws -> Int

    /// Remembers the address a participant joined from, as a keyed hash; the first one stays.
    func recordParticipantOrigin(participantID: Int64, addressKey: String) async throws
    /// Who joined when and from where (keyed), for the ballot-stuffing flags.
    func joiners(conversationID: Int64) async throws -> [BallotStuffing.Joiner]

    // MARK: Organisers and credentials
    /// The first organiser of an instance is its admin, whatever `isAdmin` says.
    func createOrganiser(email: String, passwordHash: String, isAdmin: Bool) async throws -> Organiser
    func organiserCredentials(email: String) async throws -> (Organiser, passwordHash: String)?
    func organiser(id: Int64) async throws -> Organiser?
    func storeAPIToken(organiserID: Int64, tokenHash: String, label: String) async throws
    func organiser(apiTokenHash: String) async throws -> Organiser?
    func storeSession(organiserID: Int64, tokenHash: String, expiresAt: Date) async throws
    func organiser(sessionHash: String, at now: Date) async throws -> Organiser?
    func deleteSession(tokenHash: String) async throws

    // MARK: Organisers' roles
    /// The organiser's own membership of a conversation (admins' implicit rights not included).
    func membership(conversationID: Int64, organiserID: Int64) async throws -> ConversationRole?
    /// Gives an organiser a role on a conversation, or (nil) takes it away; audited. The last
    /// owner cannot be removed.
    func setMembership(conversationID: Int64, organiserID: Int64, role: ConversationRole?, by actor: Actor)
        async throws
    func members(conversationID: Int64) async throws -> [(Organiser, ConversationRole)]
    /// The ids of the conversations an organiser is a member of.
    func memberConversationIDs(organiserID: Int64) async throws -> Set<Int64>
    func organisers() async throws -> [Organiser]
    func setAdmin(organiserID: Int64, isAdmin: Bool, by actor: Actor) async throws
}

/// What the analysis reads and writes, and Polis imports.
public protocol AnalysisStore: Sendable {
    // MARK: Analysis and imports
    /// The current votes and moderation of a conversation, for the analysis.
    func analysisSnapshot(conversationID: Int64) async throws -> AnalysisSnapshot
    /// The id of the newest vote event of the conversation (0 when none).
    func lastVoteEvent(conversationID: Int64) async throws -> Int64
    func saveAnalysis(_ analysis: StoredAnalysis) async throws
    func latestAnalysis(conversationID: Int64) async throws -> StoredAnalysis?
    /// How many groups the stored analyses found, newest first: each element a run of analyses
    /// in a row that found the same number (at most `limit` runs).
    func groupCountHistory(conversationID: Int64, limit: Int) async throws -> [GroupCountRun]
    /// A statement's scores, one point per hour in which an analysis ran, oldest first (at
    /// most the last `limit` hours).
    func statementScoreHistory(statementID: Int64, limit: Int) async throws -> [StatementScorePoint]
    /// The external ids an import gave participants and statements, by row id.
    func sourceIDs(conversationID: Int64) async throws -> (participants: [Int64: String], statements: [Int64: String])
    /// Imports a Polis export as the conversation `settings.slug` (created if absent), keeping
    /// the export's participant and comment ids as source ids. Idempotent.
    func importPolis(_ export: PolisExport, settings: ConversationSettings, by actor: Actor) async throws
        -> ImportSummary
}

/// Published constitutions and organisers' changes to their principles.
public protocol ConstitutionStore: Sendable {
    // MARK: Constitutions
    /// Stores a new version; `makeBody` gets the version number and returns the body and its
    /// hash. A hash equal to the latest version's stores nothing and throws
    /// `CharterError.constitutionUnchanged` with that version, checked in the same transaction.
    func publishConstitution(
        conversationID: Int64, by actor: Actor, makeBody: @Sendable (Int) throws -> (body: Data, sha256: String)
    ) async throws -> StoredConstitution
    func constitution(id: Int64) async throws -> StoredConstitution?
    func constitutions(conversationID: Int64) async throws -> [StoredConstitution]
    /// Organisers' wording of principles, by lead statement id; carried into the next compile.
    func principleWordings(conversationID: Int64) async throws -> [Int64: String]
    /// Sets (or, with nil, removes) the wording of the principle led by a statement.
    func setPrincipleWording(conversationID: Int64, statementID: Int64, text: String?, by actor: Actor) async throws

    /// Organisers' hand grouping: a statement merged into the principle another leads, or
    /// (nil) kept apart from automatic merging.
    func principleGroupings(conversationID: Int64) async throws -> [Int64: Int64?]
    /// Merges a statement into a lead's principle, keeps it apart (`.split`), or returns it to
    /// automatic merging (`.automatic`).
    func setPrincipleGrouping(conversationID: Int64, statementID: Int64, grouping: PrincipleGrouping, by actor: Actor)
        async throws
}

/// Comparison runs and their state.
public protocol RunStore: Sendable {
    // MARK: Comparison runs
    /// Queues a run of the collective constitution `request.ccaiConstitutionID` (which must
    /// exist) against its baseline.
    func createRun(_ request: NewComparisonRun, by actor: Actor) async throws -> ComparisonRun
    func run(id: Int64) async throws -> ComparisonRun?
    /// Newest first.
    func runs(offset: Int, limit: Int) async throws -> Page<ComparisonRun>
    /// The runs in any of these states, oldest first.
    func runs(in states: Set<RunState>) async throws -> [ComparisonRun]
    /// Applies the change if, and only if, the run is in one of the `expecting` states when the
    /// transaction runs: the one way two processes or two requests can race on a run safely.
    /// Returns the changed run, or nil when its state was another. An actor's change is audited.
    func updateRun(id: Int64, expecting: Set<RunState>, _ change: RunChange, by actor: Actor?) async throws
        -> ComparisonRun?
    /// Takes the oldest queued run for `owner`: it becomes running, started `now`, held until
    /// `leaseExpiresAt`. Servers claiming at once each get a different run (or nil): none waits
    /// for another's claim, and no run is claimed twice.
    func claimNextRun(owner: String, ownerPID: Int32, leaseExpiresAt: Date, at now: Date) async throws
        -> ComparisonRun?
    /// Extends the lease of every running run `owner` holds; returns how many it holds.
    func renewRunLeases(owner: String, until: Date) async throws -> Int
    /// Makes `owner` the holder of a running run whose lease ran out before `expiredBy` (or
    /// that has none); nil when the run is not running or its holder's lease is still good.
    func takeOverRun(id: Int64, owner: String, ownerPID: Int32, leaseExpiresAt: Date, expiredBy: Date) async throws
        -> ComparisonRun?
}

/// Organisers' demographic questions and participants' answers to them. Answers are never
/// shown to other participants; a participant's withdrawal deletes them.
public protocol DemographicsStore: Sendable {
    // MARK: Demographics
    /// The conversation's questions and how they are asked (no questions, asked after the first
    /// vote, the default consent text, when the organiser set none).
    func demographics(conversationID: Int64) async throws -> DemographicsSettings
    /// Replaces the questions (validated first); answers to questions or options no longer
    /// asked are deleted in the same transaction. Audited.
    func setDemographics(conversationID: Int64, _ settings: DemographicsSettings, by actor: Actor) async throws
        -> DemographicsSettings
    /// What the participant did when asked; nil when they have not responded yet.
    func demographicResponse(participantID: Int64) async throws -> DemographicResponse?
    /// Records a participant's answers (none: a skip), once: a participant who has responded
    /// already gets `CharterError.conflict`. The answers are checked against the questions in
    /// the same transaction. Creates the participant first if `participant` names one not yet
    /// seen.
    func recordDemographicResponse(
        conversationID: Int64, participant: ParticipantIdentity, answers: [String: String], at now: Date
    ) async throws -> DemographicResponse
    /// Deletes the participant's answers (the rows themselves); their response stays, marked
    /// withdrawn, so they are not asked again. Returns how many answers were deleted.
    func withdrawDemographicAnswers(conversationID: Int64, participantID: Int64, at now: Date) async throws -> Int
    /// Every answer of the conversation's participants: participant id → question key → option
    /// key (or `prefer_not_to_say`).
    func demographicAnswers(conversationID: Int64) async throws -> [Int64: [String: String]]
}

/// The audit log, instance settings and counts.
public protocol AuditStore: Sendable {
    // MARK: Audit and settings
    func auditLog(conversationID: Int64?, offset: Int, limit: Int) async throws -> Page<AuditEntry>
    /// The audit entries that name a statement (its moderation, edits, grouping), newest
    /// first, at most `limit`.
    func auditLog(statementID: Int64, limit: Int) async throws -> [AuditEntry]
    func setting(_ key: String) async throws -> String?
    /// Stores the value if the key has none and returns the stored value, so two processes
    /// starting at once agree on one.
    func settingInsertingIfAbsent(_ key: String, value: String) async throws -> String
    /// Removes a setting (a value that moved out of the database, like the old signing secret).
    func deleteSetting(_ key: String) async throws
    func counts() async throws -> StoreCounts
}

extension IdentityStore {
    public func createOrganiser(email: String, passwordHash: String) async throws -> Organiser {
        try await createOrganiser(email: email, passwordHash: passwordHash, isAdmin: false)
    }

    /// The role an organiser holds on a conversation, counting an admin's rights.
    public func role(of organiser: Organiser, conversationID: Int64) async throws -> ConversationRole? {
        if organiser.isAdmin { return .owner }
        return try await membership(conversationID: conversationID, organiserID: organiser.id)
    }
}

extension ConversationStore {
    /// Seeds in the conversation's language.
    public func addSeedStatements(conversationID: Int64, texts: [String], by actor: Actor) async throws -> SeedResult {
        try await addSeedStatements(conversationID: conversationID, texts: texts, language: nil, by: actor)
    }

    /// A participant's statement in the conversation's language.
    public func submitStatement(conversationID: Int64, participant: ParticipantIdentity, text: String, at now: Date)
        async throws -> Statement
    {
        try await submitStatement(
            conversationID: conversationID, participant: participant, text: text, language: nil, at: now)
    }
}

extension VoteStore {
    public func castVote(
        conversationID: Int64, participant: ParticipantIdentity, statementID: Int64, value: VoteValue, at now: Date
    ) async throws -> VoteReceipt {
        try await castVote(
            conversationID: conversationID, slug: nil, participant: participant, statementID: statementID,
            value: value, at: now)
    }
}
