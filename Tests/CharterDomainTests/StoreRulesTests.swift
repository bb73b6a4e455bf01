import CharterDomain
import Foundation
import Testing

/// The rules every back end asks inside its transaction; the contract suite checks that the
/// back ends ask them, these check the answers.
@Suite struct StoreRulesTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func conversation(
        state: ConversationState = .open, closesAt: Date? = nil, statementsAllowed: Bool = true, minVotes: Int = 0,
        maxLength: Int = 140
    ) -> Conversation {
        Conversation(
            id: 1,
            settings: ConversationSettings(
                slug: "town", title: "T", question: "Q", state: state, closesAt: closesAt,
                participantStatementsAllowed: statementsAllowed, maxStatementLength: maxLength,
                minVotesBeforeSubmit: minVotes),
            createdAt: now)
    }

    @Test func aVoteLearnsTheFirstRuleItBreaks() {
        let open = Self.conversation()
        let closed = Self.conversation(state: .closed)
        let expired = Self.conversation(closesAt: Self.now)
        func check(_ c: Conversation, slug: String? = nil, exists: Bool = true, shown: Bool = true) -> CharterError? {
            do {
                try VoteRules.checkTarget(
                    conversation: c, addressedSlug: slug, statementExists: exists, shown: shown, at: Self.now)
                return nil
            } catch { return error }
        }
        #expect(check(open) == nil)
        #expect(check(open, slug: "town") == nil)
        #expect(check(open, slug: "old-name") == .notFound("Conversation"))
        #expect(check(open, exists: false, shown: false) == .notFound("Statement"))
        // A missing statement is missing even in a closed conversation; a hidden one is closed first.
        #expect(check(closed, exists: false, shown: false) == .notFound("Statement"))
        #expect(check(closed) == .conversationClosed)
        #expect(check(expired) == .conversationClosed)
        #expect(check(closed, shown: false) == .conversationClosed)
        #expect(check(open, shown: false) == .statementNotVotable)
    }

    @Test func onlyTheLatestVoteChangesAndNeverToItself() throws {
        let first = try VoteRules.outcome(of: .agree, on: 5, previous: nil, latestVotedStatementID: 9)
        #expect(first == .recorded)
        let changed = try VoteRules.outcome(of: .pass, on: 5, previous: .agree, latestVotedStatementID: 5)
        #expect(changed == .changed(from: .agree))
        #expect(throws: CharterError.duplicateVote) {
            try VoteRules.outcome(of: .agree, on: 5, previous: .agree, latestVotedStatementID: 5)
        }
        #expect(throws: CharterError.voteNotChangeable) {
            try VoteRules.outcome(of: .disagree, on: 5, previous: .agree, latestVotedStatementID: 6)
        }
    }

    @Test func aVoteIsFastOnlyInsideTheInterval() {
        let rule = FastVoting(interval: 0.5, votes: 3)
        #expect(!rule.isFast(previousVoteAt: nil, now: Self.now))
        #expect(rule.isFast(previousVoteAt: Self.now.addingTimeInterval(-0.4), now: Self.now))
        #expect(!rule.isFast(previousVoteAt: Self.now.addingTimeInterval(-0.5), now: Self.now))
    }

    @Test func aSubmissionNeedsAnOpenConversationThatTakesStatementsAndEnoughVotes() throws {
        #expect(throws: CharterError.conversationClosed) {
            try SubmissionRules.checkConversation(Self.conversation(state: .closed), at: Self.now)
        }
        #expect(throws: CharterError.statementsNotAllowed) {
            try SubmissionRules.checkConversation(Self.conversation(statementsAllowed: false), at: Self.now)
        }
        try SubmissionRules.checkConversation(Self.conversation(), at: Self.now)
        let strict = Self.conversation(minVotes: 3, maxLength: 10)
        #expect(throws: CharterError.notEnoughVotesToSubmit(needed: 3)) {
            try SubmissionRules.validatedText("Short", in: strict, votesCast: 2)
        }
        let text = try SubmissionRules.validatedText("  Short \r\n", in: strict, votesCast: 3)
        #expect(text == "Short")
        #expect(throws: CharterError.self) {
            try SubmissionRules.validatedText("Far too long here", in: strict, votesCast: 3)
        }
    }

    @Test func auditActionsRoundTripAndAreDistinct() {
        let raw = AuditAction.allCases.map(\.rawValue)
        #expect(Set(raw).count == raw.count)
        #expect(raw.contains("run.cancelled") && raw.contains("conversation.allow-list"))
        for action in AuditAction.allCases { #expect(AuditAction(rawValue: action.rawValue) == action) }
        #expect(AuditAction(rawValue: "nothing.like.this") == nil)
    }
}

@Suite struct PolisImportMappingTests {
    static let export = PolisExport(
        topic: nil, description: nil,
        comments: [
            .init(
                id: 4, authorID: 9, text: "Later", moderated: -1, isMeta: false, isSeed: false,
                groupInformedConsensus: nil, timestamp: 1_700_000_000_500),
            .init(
                id: 1, authorID: nil, text: "Earlier", moderated: 1, isMeta: true, isSeed: true,
                groupInformedConsensus: nil, timestamp: nil),
        ],
        participants: [.init(id: 3, xid: "panel-3", groupID: nil)],
        votes: [.init(participant: 5, comment: 4, value: 1), .init(participant: 3, comment: 7, value: -1)])

    @Test func everyoneMentionedIsAParticipantAndEveryVotedCommentAStatement() {
        let people = PolisImportMapping.people(in: Self.export)
        #expect(people.map(\.source) == [3, 5, 9])
        #expect(people.map(\.xid) == ["panel-3", nil, nil])
        let comments = PolisImportMapping.comments(in: Self.export)
        #expect(comments.map(\.id) == [1, 4, 7])
        #expect(comments.last?.text == "(comment 7)")
        #expect(comments.map(PolisImportMapping.moderation) == [.accepted, .rejected, .pending])
    }

    @Test func timesAreMillisecondsAndTakenTextsKeepTheirOwnKey() throws {
        let later = try #require(Self.export.comments.first)
        let now = Date()
        #expect(PolisImportMapping.createdAt(of: later, importedAt: now).timeIntervalSince1970 == 1_700_000_000.5)
        #expect(PolisImportMapping.createdAt(of: Self.export.comments[1], importedAt: now) == now)
        #expect(PolisImportMapping.duplicateKey(of: later, taken: false) == "later")
        #expect(PolisImportMapping.duplicateKey(of: later, taken: true) != "later")
        #expect(PolisImportMapping.anonymousID(source: 5) == "polis:5")
    }
}
