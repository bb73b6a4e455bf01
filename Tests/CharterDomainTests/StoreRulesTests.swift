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

    @Test func fastVotingCountsVotesInsideTheInterval() {
        let rule = FastVoting(interval: 0.5, votes: 3)
        #expect(!rule.isFast(previousVoteAt: nil, now: Self.now))
        #expect(rule.isFast(previousVoteAt: Self.now.addingTimeInterval(-0.4), now: Self.now))
        #expect(!rule.isFast(previousVoteAt: Self.now.addingTimeInterval(-0.5), now: Self.now))
        #expect(!rule.flags(afterFastVotes: 2))
        #expect(rule.flags(afterFastVotes: 3))
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
