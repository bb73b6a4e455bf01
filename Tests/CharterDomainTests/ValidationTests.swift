import CharterDomain
import Foundation
import Testing

@Suite struct ConversationSettingsTests {
    @Test func trimsAndLowercasesTheSlug() throws {
        let s = try ConversationSettings(slug: "  Climate-2026 ", title: " T ", question: " Q? ").validated()
        #expect(s.slug == "climate-2026")
        #expect(s.title == "T")
        #expect(s.question == "Q?")
    }

    @Test(arguments: ["", "-leading", "has space", "ünïcode", "under_score", String(repeating: "a", count: 65)])
    func rejectsBadSlugs(_ slug: String) {
        #expect(throws: CharterError.self) {
            try ConversationSettings(slug: slug, title: "T", question: "Q").validated()
        }
    }

    @Test func requiresTitleAndQuestion() {
        #expect(throws: CharterError.invalid(field: "title", message: "title must be 1–200 characters")) {
            try ConversationSettings(slug: "a", title: "  ", question: "Q").validated()
        }
        #expect(throws: CharterError.self) { try ConversationSettings(slug: "a", title: "T", question: "").validated() }
    }

    @Test func aCompletionThresholdNeedsACode() throws {
        var s = ConversationSettings(slug: "a", title: "T", question: "Q", completionThreshold: 10)
        #expect(throws: CharterError.self) { try s.validated() }
        s.completionCode = "  PANEL-42 "
        let valid = try s.validated()
        #expect(valid.completionCode == "PANEL-42")
    }

    @Test func statementLengthLimitsAreBounded() {
        #expect(throws: CharterError.self) {
            try ConversationSettings(slug: "a", title: "T", question: "Q", maxStatementLength: 0).validated()
        }
        #expect(throws: CharterError.self) {
            try ConversationSettings(slug: "a", title: "T", question: "Q", minVotesBeforeSubmit: -1).validated()
        }
    }
}

@Suite struct ConversationRulesTests {
    func conversation(_ settings: ConversationSettings) -> Conversation {
        Conversation(id: 1, settings: settings, createdAt: Date(timeIntervalSince1970: 0))
    }

    func statement(_ moderation: ModerationState, meta: Bool = false) -> Statement {
        Statement(
            id: 1, conversationID: 1, authorID: nil, text: "x", isSeed: false, isMeta: meta, moderation: moderation,
            reason: nil, createdAt: Date())
    }

    @Test func closesByStateOrByTime() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        #expect(conversation(.init(slug: "a", title: "T", question: "Q")).isOpen(at: now))
        #expect(!conversation(.init(slug: "a", title: "T", question: "Q", state: .closed)).isOpen(at: now))
        let closing = conversation(.init(slug: "a", title: "T", question: "Q", closesAt: now))
        #expect(!closing.isOpen(at: now))
        #expect(closing.isOpen(at: now.addingTimeInterval(-1)))
    }

    @Test func strictModerationHidesPendingStatements() {
        let lenient = conversation(.init(slug: "a", title: "T", question: "Q"))
        let strict = conversation(.init(slug: "a", title: "T", question: "Q", strictModeration: true))
        #expect(lenient.shows(statement(.pending)))
        #expect(!strict.shows(statement(.pending)))
        #expect(strict.shows(statement(.accepted)))
        #expect(!lenient.shows(statement(.rejected)))
        #expect(!lenient.shows(statement(.accepted, meta: true)))
    }
}

@Suite struct StatementTextTests {
    @Test func trimsAndChecksLength() throws {
        let text = try StatementText.validated("  The AI should be honest.\n", maxLength: 140)
        #expect(text == "The AI should be honest.")
        #expect(throws: CharterError.self) { try StatementText.validated(" \n\t ", maxLength: 140) }
        #expect(throws: CharterError.self) {
            try StatementText.validated(String(repeating: "x", count: 141), maxLength: 140)
        }
        #expect(throws: CharterError.self) { try StatementText.validated("bell\u{07}", maxLength: 140) }
        #expect(throws: CharterError.self) { try StatementText.validated("nul\u{00}byte", maxLength: 140) }
        let multiline = try StatementText.validated("two\nlines", maxLength: 140)
        #expect(multiline == "two\nlines")
        let exact = try StatementText.validated(String(repeating: "é", count: 140), maxLength: 140)
        #expect(exact.count == 140)
    }

    @Test func duplicateKeyIgnoresCaseAndWhitespace() {
        #expect(StatementText.duplicateKey("Be  HONEST\tplease") == StatementText.duplicateKey("be honest please"))
        #expect(StatementText.duplicateKey("be honest") != StatementText.duplicateKey("be honest!"))
    }
}

@Suite struct SmallRulesTests {
    @Test func voteNamesRoundTrip() {
        for value in VoteValue.allCases { #expect(VoteValue(name: value.name) == value) }
        #expect(VoteValue(name: "Agree") == nil)
        #expect(VoteValue.agree.rawValue == 1 && VoteValue.disagree.rawValue == -1)
    }

    @Test func emailsAreNormalised() throws {
        let email = try Organiser.validatedEmail("  Ada@Example.ORG ")
        #expect(email == "ada@example.org")
        for bad in ["", "no-at", "a@b", "a b@c.d", "@x.org"] {
            #expect(throws: CharterError.self) { try Organiser.validatedEmail(bad) }
        }
    }

    @Test func xidsAreOneLine() throws {
        let xid = try ParticipantIdentity.validatedXID(" panel-17 ")
        #expect(xid == "panel-17")
        #expect(throws: CharterError.self) { try ParticipantIdentity.validatedXID("a\nb") }
        #expect(throws: CharterError.self) { try ParticipantIdentity.validatedXID(String(repeating: "x", count: 201)) }
    }
}
