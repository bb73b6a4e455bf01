import CharterDomain
public import CharterStore
import Foundation
public import Testing

/// One behaviour every `CharterStore` back end must have. A back end's test target runs every
/// element of `StoreContract.requirements` on a fresh, empty store of its own:
///
///     @Test(arguments: StoreContract.requirements)
///     func sqlite(_ requirement: StoreRequirement) async throws {
///         try await requirement.check(on: freshStore())
///     }
public struct StoreRequirement: Sendable, CustomTestStringConvertible {
    public let name: String
    let body: @Sendable (StoreContract.Fixture) async throws -> Void

    init(_ name: String, _ body: @escaping @Sendable (StoreContract.Fixture) async throws -> Void) {
        self.name = name
        self.body = body
    }

    public func check(on store: any CharterStore) async throws { try await body(StoreContract.Fixture(store)) }

    public var testDescription: String { name }
}

public enum StoreContract {
    /// A store under test with the helpers the requirements share.
    public final class Fixture: Sendable {
        public let store: any CharterStore
        public let organiser = Actor(organiserID: nil, name: "tester")

        init(_ store: any CharterStore) { self.store = store }

        func conversation(
            _ slug: String = "c", strict: Bool = false, _ edit: (inout ConversationSettings) -> Void = { _ in }
        ) async throws -> Conversation {
            var settings = ConversationSettings(
                slug: slug, title: "Title", question: "Question?", strictModeration: strict)
            edit(&settings)
            return try await store.createConversation(settings, by: organiser)
        }

        func seed(_ conversation: Conversation, _ texts: [String]) async throws -> [Statement] {
            try await store.addSeedStatements(conversationID: conversation.id, texts: texts, by: organiser).added
        }
    }

    public static let requirements: [StoreRequirement] =
        basics + StoreContract.extended + StoreContract.desk + StoreContract.statementHistory
        + StoreContract.demographics + StoreContract.translations

    static let basics: [StoreRequirement] = [
        StoreRequirement("createsAndFindsConversations") { f in
            let c = try await f.conversation("first")
            let bySlug = try await f.store.conversation(slug: "first")
            #expect(bySlug == c)
            let byID = try await f.store.conversation(id: c.id)
            #expect(byID == c)
            let missing = try await f.store.conversation(id: c.id + 1000)
            #expect(missing == nil)
            await #expect(throws: CharterError.self) { try await f.conversation("first") }
            let all = try await f.store.conversations()
            #expect(all.map(\.slug) == ["first"])
        },

        StoreRequirement("editingRecordsAnAuditEntry") { f in
            let c = try await f.conversation()
            var settings = c.settings
            settings.title = "New title"
            settings.strictModeration = true
            let updated = try await f.store.updateConversation(id: c.id, settings, by: f.organiser)
            #expect(updated.settings.title == "New title" && updated.settings.strictModeration)
            let log = try await f.store.auditLog(conversationID: c.id, offset: 0, limit: 10)
            #expect(log.items.first?.action == "conversation.edit")
            #expect(log.items.first?.detail.contains("New title") == true)
            #expect(log.items.first?.actor == "tester")
        },

        StoreRequirement("aVoteIsRecordedOnceAndOnlyTheLastCanChange") { f in
            let c = try await f.conversation()
            let s = try await f.seed(c, ["One", "Two"])
            let who = ParticipantIdentity.anonymous("browser-1")
            let first = try await f.store.castVote(
                conversationID: c.id, participant: who, statementID: s[0].id, value: .agree, at: Date())
            #expect(first.outcome == .recorded)
            #expect(first.progress == VotingProgress(voted: 1, total: 2))
            await #expect(throws: CharterError.duplicateVote) {
                try await f.store.castVote(
                    conversationID: c.id, participant: who, statementID: s[0].id, value: .agree, at: Date())
            }
            let changed = try await f.store.castVote(
                conversationID: c.id, participant: who, statementID: s[0].id, value: .disagree, at: Date())
            #expect(changed.outcome == .changed(from: .agree))
            _ = try await f.store.castVote(
                conversationID: c.id, participant: who, statementID: s[1].id, value: .pass, at: Date())
            await #expect(throws: CharterError.voteNotChangeable) {
                try await f.store.castVote(
                    conversationID: c.id, participant: who, statementID: s[0].id, value: .agree, at: Date())
            }
            let votes = try await f.store.votes(conversationID: c.id)
            #expect(votes.map(\.value) == [.disagree, .pass])
            let events = try await f.store.voteEvents(conversationID: c.id)
            #expect(events.map(\.value) == [.agree, .disagree, .pass])
            let last = try await f.store.lastVote(participantID: first.participant.id)
            #expect(last?.statementID == s[1].id)
        },

        StoreRequirement("theParticipantIsCreatedOnFirstVoteOnly") { f in
            let c = try await f.conversation()
            let s = try await f.seed(c, ["One"])
            let panel = ParticipantIdentity.external("panel-7")
            let before = try await f.store.existingParticipant(conversationID: c.id, identity: panel)
            #expect(before == nil)
            let receipt = try await f.store.castVote(
                conversationID: c.id, participant: panel, statementID: s[0].id, value: .agree, at: Date())
            #expect(receipt.participant.xid == "panel-7")
            let again = try await f.store.participant(conversationID: c.id, identity: panel)
            #expect(again.id == receipt.participant.id)
            // The same panel id in another conversation is another participant.
            let other = try await f.conversation("other")
            let elsewhere = try await f.store.participant(conversationID: other.id, identity: panel)
            #expect(elsewhere.id != receipt.participant.id)
        },

        StoreRequirement("refusedVotesChangeNothing") { f in
            let c = try await f.conversation()
            let s = try await f.seed(c, ["Accepted", "Rejected"])
            _ = try await f.store.moderate(
                statementIDs: [s[1].id], conversationID: c.id, action: .reject(reason: "off topic"), by: f.organiser)
            let other = try await f.conversation("other")
            let foreign = try await f.seed(other, ["Elsewhere"])
            let who = ParticipantIdentity.anonymous("b")
            await #expect(throws: CharterError.statementNotVotable) {
                try await f.store.castVote(
                    conversationID: c.id, participant: who, statementID: s[1].id, value: .agree, at: Date())
            }
            await #expect(throws: CharterError.notFound("Statement")) {
                try await f.store.castVote(
                    conversationID: c.id, participant: who, statementID: 9999, value: .agree, at: Date())
            }
            await #expect(throws: CharterError.notFound("Statement")) {
                try await f.store.castVote(
                    conversationID: c.id, participant: who, statementID: foreign[0].id, value: .agree, at: Date())
            }
            await #expect(throws: CharterError.notFound("Participant")) {
                try await f.store.castVote(
                    conversationID: c.id, participant: .id(424242), statementID: s[0].id, value: .agree, at: Date())
            }
            var closed = c.settings
            closed.state = .closed
            _ = try await f.store.updateConversation(id: c.id, closed, by: f.organiser)
            await #expect(throws: CharterError.conversationClosed) {
                try await f.store.castVote(
                    conversationID: c.id, participant: who, statementID: s[0].id, value: .agree, at: Date())
            }
            let counts = try await f.store.counts()
            #expect(counts.votes == 0 && counts.participants == 0)
        },

        StoreRequirement("aConversationClosesAtItsClosingTime") { f in
            let closesAt = Date().addingTimeInterval(3600)
            let c = try await f.conversation { $0.closesAt = closesAt }
            let s = try await f.seed(c, ["One"])
            await #expect(throws: CharterError.conversationClosed) {
                try await f.store.castVote(
                    conversationID: c.id, participant: .anonymous("b"), statementID: s[0].id, value: .agree,
                    at: closesAt.addingTimeInterval(1))
            }
            _ = try await f.store.castVote(
                conversationID: c.id, participant: .anonymous("b"), statementID: s[0].id, value: .agree, at: Date())
        },

        StoreRequirement("participantStatementsFollowTheRules") { f in
            let c = try await f.conversation { $0.maxStatementLength = 20 }
            _ = try await f.seed(c, ["Be honest"])
            let who = ParticipantIdentity.anonymous("author")
            for (text, expected) in [
                ("   ", CharterError.invalid(field: "text", message: "The statement is empty.")),
                ("  be   HONEST ", CharterError.duplicateStatement(existingID: 1)),
            ] {
                await #expect(throws: expected) {
                    try await f.store.submitStatement(conversationID: c.id, participant: who, text: text, at: Date())
                }
            }
            await #expect(throws: CharterError.self) {
                try await f.store.submitStatement(
                    conversationID: c.id, participant: who, text: String(repeating: "x", count: 21), at: Date())
            }
            #expect(try await f.store.counts().participants == 0)

            let statement = try await f.store.submitStatement(
                conversationID: c.id, participant: who, text: "  Cite sources  ", at: Date())
            #expect(statement.text == "Cite sources")
            #expect(statement.moderation == .pending && !statement.isSeed)
            // Writing a statement is agreeing with it.
            let votes = try await f.store.votes(conversationID: c.id)
            #expect(votes.count == 1 && votes[0].statementID == statement.id && votes[0].value == .agree)
            #expect(votes[0].participantID == statement.authorID)
        },

        StoreRequirement("submissionsRespectTheConversationSettings") { f in
            let closedToStatements = try await f.conversation("a") { $0.participantStatementsAllowed = false }
            await #expect(throws: CharterError.statementsNotAllowed) {
                try await f.store.submitStatement(
                    conversationID: closedToStatements.id, participant: .anonymous("x"), text: "Hi", at: Date())
            }
            let needsVotes = try await f.conversation("b") { $0.minVotesBeforeSubmit = 1 }
            let s = try await f.seed(needsVotes, ["One"])
            await #expect(throws: CharterError.notEnoughVotesToSubmit(needed: 1)) {
                try await f.store.submitStatement(
                    conversationID: needsVotes.id, participant: .anonymous("x"), text: "Hi", at: Date())
            }
            _ = try await f.store.castVote(
                conversationID: needsVotes.id, participant: .anonymous("x"), statementID: s[0].id, value: .pass,
                at: Date())
            _ = try await f.store.submitStatement(
                conversationID: needsVotes.id, participant: .anonymous("x"), text: "Hi", at: Date())
        },

        StoreRequirement("strictModerationHidesUntilAccepted") { f in
            let c = try await f.conversation(strict: true)
            _ = try await f.seed(c, ["Seeded"])
            let submitted = try await f.store.submitStatement(
                conversationID: c.id, participant: .anonymous("author"), text: "Pending one", at: Date())
            var visible = try await f.store.visibleStatements(conversationID: c.id)
            #expect(visible.map(\.text) == ["Seeded"])
            await #expect(throws: CharterError.statementNotVotable) {
                try await f.store.castVote(
                    conversationID: c.id, participant: .anonymous("voter"), statementID: submitted.id, value: .agree,
                    at: Date())
            }
            _ = try await f.store.moderate(
                statementIDs: [submitted.id], conversationID: c.id, action: .accept, by: f.organiser)
            visible = try await f.store.visibleStatements(conversationID: c.id)
            #expect(visible.map(\.text) == ["Seeded", "Pending one"])
        },

        StoreRequirement("nextStatementSkipsVotedMetaAndRejected") { f in
            let c = try await f.conversation()
            let s = try await f.seed(c, ["A", "B", "C", "D"])
            _ = try await f.store.moderate(
                statementIDs: [s[1].id], conversationID: c.id, action: .markMeta(true), by: f.organiser)
            _ = try await f.store.moderate(
                statementIDs: [s[2].id], conversationID: c.id, action: .reject(reason: ""), by: f.organiser)
            let who = ParticipantIdentity.anonymous("p")
            var seen: [String] = []
            var participantID: Int64?
            while let next = try await f.store.unvotedStatements(conversationID: c.id, participantID: participantID)
                .first
            {
                seen.append(next.text)
                let receipt = try await f.store.castVote(
                    conversationID: c.id, participant: who, statementID: next.id, value: .agree, at: Date())
                participantID = receipt.participant.id
            }
            #expect(seen.sorted() == ["A", "D"])
            let progress = try await f.store.progress(conversationID: c.id, participantID: participantID)
            #expect(progress == VotingProgress(voted: 2, total: 2))
        },

        StoreRequirement("bulkSeedingSkipsBadLinesAndAudits") { f in
            let c = try await f.conversation { $0.maxStatementLength = 30 }
            let result = try await f.store.addSeedStatements(
                conversationID: c.id, texts: ["First", "first ", "", String(repeating: "y", count: 31), "Second"],
                by: f.organiser)
            #expect(result.added.map(\.text) == ["First", "Second"])
            #expect(result.added.allSatisfy { $0.isSeed && $0.moderation == .accepted && $0.authorID == nil })
            #expect(result.skipped.map(\.error.code) == ["duplicate_statement", "invalid", "invalid"])
            let log = try await f.store.auditLog(conversationID: c.id, offset: 0, limit: 50)
            #expect(log.items.filter { $0.action == "statement.seed" }.count == 2)
        },

        StoreRequirement("moderationIsAllOrNothingAndAudited") { f in
            let c = try await f.conversation()
            let s = try await f.seed(c, ["A", "B"])
            await #expect(
                throws: CharterError.invalid(
                    field: "statements", message: "This conversation has no statement 999; nothing was changed.")
            ) {
                try await f.store.moderate(
                    statementIDs: [s[0].id, 999], conversationID: c.id, action: .reject(reason: "x"), by: f.organiser)
            }
            let untouched = try await f.store.statement(id: s[0].id)
            #expect(untouched?.moderation == .accepted)

            let rejected = try await f.store.moderate(
                statementIDs: [s[0].id, s[1].id], conversationID: c.id, action: .reject(reason: " spam "),
                by: f.organiser)
            #expect(rejected.allSatisfy { $0.moderation == .rejected && $0.reason == "spam" })
            let log = try await f.store.auditLog(conversationID: c.id, offset: 0, limit: 50)
            let rejections = log.items.filter { $0.action == "statement.reject" }
            #expect(Set(rejections.compactMap(\.statementID)) == Set(s.map(\.id)))
            #expect(rejections.allSatisfy { $0.detail.contains("spam") && $0.actor == "tester" })
        },

        StoreRequirement("statementsAreFilteredAndPaginated") { f in
            let c = try await f.conversation()
            _ = try await f.seed(c, (1...12).map { "Seed statement number \($0)" })
            for i in 1...3 {
                _ = try await f.store.submitStatement(
                    conversationID: c.id, participant: .anonymous("p\(i)"), text: "Participant idea \(i)", at: Date())
            }
            let pending = try await f.store.statements(conversationID: c.id, filter: .init(moderation: .pending))
            #expect(pending.total == 3 && pending.items.allSatisfy { $0.moderation == .pending })
            let page2 = try await f.store.statements(
                conversationID: c.id, filter: .init(isSeed: true, offset: 5, limit: 5))
            #expect(page2.total == 12 && page2.items.count == 5 && page2.items.first?.text == "Seed statement number 6")
            let search = try await f.store.statements(conversationID: c.id, filter: .init(search: "IDEA 2"))
            #expect(search.items.map(\.text) == ["Participant idea 2"])
        },

        StoreRequirement("credentialsSessionsAndTokens") { f in
            let organiser = try await f.store.createOrganiser(email: "Ada@Example.org", passwordHash: "hash")
            #expect(organiser.email == "ada@example.org")
            await #expect(throws: CharterError.self) {
                try await f.store.createOrganiser(email: "ada@example.org", passwordHash: "h")
            }
            let credentials = try await f.store.organiserCredentials(email: "ADA@example.org ")
            #expect(credentials?.passwordHash == "hash")
            try await f.store.storeAPIToken(organiserID: organiser.id, tokenHash: "t-hash", label: "ci")
            #expect(try await f.store.organiser(apiTokenHash: "t-hash") == organiser)
            #expect(try await f.store.organiser(apiTokenHash: "other") == nil)
            let now = Date()
            try await f.store.storeSession(
                organiserID: organiser.id, tokenHash: "s-hash", expiresAt: now.addingTimeInterval(60))
            #expect(try await f.store.organiser(sessionHash: "s-hash", at: now) == organiser)
            #expect(try await f.store.organiser(sessionHash: "s-hash", at: now.addingTimeInterval(61)) == nil)
            try await f.store.deleteSession(tokenHash: "s-hash")
            #expect(try await f.store.organiser(sessionHash: "s-hash", at: now) == nil)
        },

        StoreRequirement("settingsKeepTheFirstValue") { f in
            let first = try await f.store.settingInsertingIfAbsent("secret", value: "one")
            let second = try await f.store.settingInsertingIfAbsent("secret", value: "two")
            #expect(first == "one" && second == "one")
            #expect(try await f.store.setting("secret") == "one")
            #expect(try await f.store.setting("missing") == nil)
        },
    ]
}
