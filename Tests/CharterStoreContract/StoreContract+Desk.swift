import CharterDomain
import CharterStore
import Foundation
import Testing

// The organiser's desk: rewording in the moderation queue, vote counts, activity and the
// history of the number of groups.
extension StoreContract {
    static let desk: [StoreRequirement] = [
        StoreRequirement("aStatementOnlyItsAuthorVotedOnIsRewordedKeepingTheOriginal") { f in
            let c = try await f.conversation(strict: true)
            let others = try await f.seed(c, ["Existing statement"])
            let submitted = try await f.store.submitStatement(
                conversationID: c.id, participant: .anonymous("author"), text: "Teh AI shoud be honest", at: Date())
            let reworded = try await f.store.rewordStatement(
                id: submitted.id, conversationID: c.id, text: "  The AI should be honest. ", by: f.organiser)
            #expect(reworded.id == submitted.id && reworded.text == "The AI should be honest.")
            #expect(reworded.originalText == "Teh AI shoud be honest" && reworded.moderation == .pending)
            // A second rewording keeps the first wording as the original.
            let again = try await f.store.rewordStatement(
                id: submitted.id, conversationID: c.id, text: "The AI should always be honest.", by: f.organiser)
            #expect(again.originalText == "Teh AI shoud be honest")
            let read = try await f.store.statement(id: submitted.id)
            #expect(read == again)
            let log = try await f.store.auditLog(conversationID: c.id, offset: 0, limit: 50)
            let entries = log.items.filter { $0.action == AuditAction.statementReword.rawValue }
            #expect(entries.count == 2 && entries.allSatisfy { $0.statementID == submitted.id })
            #expect(entries.last?.detail.contains("Teh AI shoud be honest") == true)
            #expect(entries.allSatisfy { $0.actor == "tester" })
            // Not into another statement's words, not too long, not into another conversation.
            await #expect(throws: CharterError.duplicateStatement(existingID: others[0].id)) {
                try await f.store.rewordStatement(
                    id: submitted.id, conversationID: c.id, text: "existing  STATEMENT", by: f.organiser)
            }
            await #expect(throws: CharterError.self) {
                try await f.store.rewordStatement(
                    id: submitted.id, conversationID: c.id, text: String(repeating: "x", count: 2001), by: f.organiser)
            }
            let elsewhere = try await f.conversation("elsewhere")
            await #expect(throws: CharterError.notFound("Statement")) {
                try await f.store.rewordStatement(
                    id: submitted.id, conversationID: elsewhere.id, text: "Other words", by: f.organiser)
            }
            let unchanged = try await f.store.statement(id: submitted.id)
            #expect(unchanged?.text == "The AI should always be honest.")
        },

        StoreRequirement("aVotedStatementKeepsItsTextAndGetsALinkedCopy") { f in
            let c = try await f.conversation()
            let s = try await f.seed(c, ["Be nice", "Other"])
            _ = try await f.store.castVote(
                conversationID: c.id, participant: .anonymous("voter"), statementID: s[0].id, value: .agree,
                at: Date())
            await #expect(throws: CharterError.self) {
                try await f.store.rewordStatement(id: s[0].id, conversationID: c.id, text: "Be kind", by: f.organiser)
            }
            #expect(try await f.store.statement(id: s[0].id)?.text == "Be nice")
            let copy = try await f.store.addRewordedCopy(
                of: s[0].id, conversationID: c.id, text: "The AI should be kind.", by: f.organiser)
            #expect(copy.id != s[0].id && copy.rewordedFrom == s[0].id && copy.text == "The AI should be kind.")
            #expect(copy.moderation == .accepted && copy.authorID == nil && copy.originalText == nil)
            #expect(try await f.store.statement(id: copy.id) == copy)
            let original = try await f.store.statement(id: s[0].id)
            #expect(original?.text == "Be nice" && original?.rewordedFrom == nil)
            let log = try await f.store.auditLog(conversationID: c.id, offset: 0, limit: 50)
            let entry = log.items.first { $0.action == AuditAction.statementRewordedCopy.rawValue }
            #expect(entry?.statementID == copy.id && entry?.detail.contains("#\(s[0].id)") == true)
            #expect(entry?.detail.contains("Be nice") == true)
            // The copy's words must be new.
            await #expect(throws: CharterError.duplicateStatement(existingID: s[1].id)) {
                try await f.store.addRewordedCopy(of: s[0].id, conversationID: c.id, text: "other", by: f.organiser)
            }
        },

        StoreRequirement("voteTalliesCountTheCurrentVotes") { f in
            let c = try await f.conversation()
            let s = try await f.seed(c, ["A", "B", "C"])
            for (voter, value) in [("p", VoteValue.agree), ("q", .agree), ("r", .disagree), ("t", .pass)] {
                _ = try await f.store.castVote(
                    conversationID: c.id, participant: .anonymous(voter), statementID: s[0].id, value: value,
                    at: Date())
            }
            // A changed vote counts once, as its latest value.
            _ = try await f.store.castVote(
                conversationID: c.id, participant: .anonymous("p"), statementID: s[0].id, value: .disagree,
                at: Date())
            _ = try await f.store.castVote(
                conversationID: c.id, participant: .anonymous("p"), statementID: s[1].id, value: .pass, at: Date())
            let tallies = try await f.store.voteTallies(conversationID: c.id, statementIDs: s.map(\.id) + [999])
            #expect(tallies[s[0].id] == VoteTally(agree: 1, disagree: 2, pass: 1))
            #expect(tallies[s[0].id]?.agreeShare == 0.25)
            #expect(tallies[s[1].id] == VoteTally(agree: 0, disagree: 0, pass: 1))
            #expect(tallies[s[2].id] == nil && tallies.count == 2)
            #expect(try await f.store.voteTallies(conversationID: c.id, statementIDs: []).isEmpty)
        },

        StoreRequirement("activityCountsParticipantsAndVotesPerHour") { f in
            let c = try await f.conversation()
            let s = try await f.seed(c, ["A", "B"])
            let empty = try await f.store.activity(conversationID: c.id)
            #expect(empty == ConversationActivity(participants: 0, votes: 0, voteEvents: 0, hours: []))
            let hour = Date(timeIntervalSince1970: 1_800_000_000 - 1_800_000_000.truncatingRemainder(dividingBy: 3600))
            _ = try await f.store.castVote(
                conversationID: c.id, participant: .anonymous("p"), statementID: s[0].id, value: .agree,
                at: hour.addingTimeInterval(10))
            _ = try await f.store.castVote(
                conversationID: c.id, participant: .anonymous("p"), statementID: s[0].id, value: .pass,
                at: hour.addingTimeInterval(3599))
            _ = try await f.store.castVote(
                conversationID: c.id, participant: .anonymous("q"), statementID: s[1].id, value: .agree,
                at: hour.addingTimeInterval(2 * 3600 + 5))
            let activity = try await f.store.activity(conversationID: c.id)
            #expect(activity.participants == 2 && activity.votes == 2 && activity.voteEvents == 3)
            #expect(
                activity.hours == [
                    ActivityHour(start: hour, voteEvents: 2, participants: 1),
                    ActivityHour(start: hour.addingTimeInterval(2 * 3600), voteEvents: 1, participants: 1),
                ])
            let other = try await f.conversation("other")
            #expect(try await f.store.activity(conversationID: other.id).hours.isEmpty)
        },

        StoreRequirement("theNumberOfGroupsIsCountedInRunsOfAnalyses") { f in
            let c = try await f.conversation()
            #expect(try await f.store.groupCountHistory(conversationID: c.id, limit: 10).isEmpty)
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            for (index, groups) in [2, 2, 3, 3, 3].enumerated() {
                try await f.store.saveAnalysis(
                    StoredAnalysis(
                        conversationID: c.id, computedAt: start.addingTimeInterval(Double(index) * 60), voteCount: 1,
                        lastVoteEvent: 0, durationMs: 1, parameters: "{}", result: Data("{}".utf8),
                        groupCount: groups))
            }
            // An analysis that does not say leaves the history alone.
            try await f.store.saveAnalysis(
                StoredAnalysis(
                    conversationID: c.id, computedAt: start.addingTimeInterval(600), voteCount: 1, lastVoteEvent: 0,
                    durationMs: 1, parameters: "{}", result: Data("{}".utf8)))
            let history = try await f.store.groupCountHistory(conversationID: c.id, limit: 10)
            #expect(
                history == [
                    GroupCountRun(
                        groups: 3, analyses: 3, firstAt: start.addingTimeInterval(120),
                        lastAt: start.addingTimeInterval(240)),
                    GroupCountRun(groups: 2, analyses: 2, firstAt: start, lastAt: start.addingTimeInterval(60)),
                ])
            #expect(try await f.store.groupCountHistory(conversationID: c.id, limit: 1).count == 1)
        },
    ]
}
