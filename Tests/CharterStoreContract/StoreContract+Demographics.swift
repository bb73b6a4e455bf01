import CharterDomain
import CharterStore
import Foundation
import Testing

// Demographic questions, answers asked once, withdrawal that deletes.
extension StoreContract {
    static func ageAndRegion(targets: Bool = true) -> DemographicsSettings {
        DemographicsSettings(
            questions: [
                DemographicQuestion(
                    key: "age", text: ["en": "How old are you?", "de": "Wie alt sind Sie?"],
                    options: [
                        DemographicOption(key: "18-39", label: ["en": "18 to 39"]),
                        DemographicOption(key: "40-plus", label: ["en": "40 or older"]),
                    ],
                    targets: targets ? ["18-39": 0.4, "40-plus": 0.6] : nil),
                DemographicQuestion(
                    key: "region", text: ["en": "Where do you live?"],
                    options: [
                        DemographicOption(key: "north", label: ["en": "North"]),
                        DemographicOption(key: "south", label: ["en": "South"]),
                    ]),
            ], afterVotes: 2, consent: "We use this to check who took part.")
    }

    static let demographics: [StoreRequirement] = [
        StoreRequirement("demographicQuestionsAreStoredValidatedAndAudited") { f in
            let c = try await f.conversation()
            let none = try await f.store.demographics(conversationID: c.id)
            #expect(none == DemographicsSettings(), "no questions, asked after the first vote, default consent")
            #expect(none.afterVotes == 1 && none.consent.isEmpty && !none.asks)
            let saved = try await f.store.setDemographics(conversationID: c.id, ageAndRegion(), by: f.organiser)
            let read = try await f.store.demographics(conversationID: c.id)
            #expect(read == saved)
            #expect(read.questions.map(\.key) == ["age", "region"])
            #expect(read.question("age")?.targets == ["18-39": 0.4, "40-plus": 0.6])
            #expect(read.afterVotes == 2 && read.consent == "We use this to check who took part.")
            let log = try await f.store.auditLog(conversationID: c.id, offset: 0, limit: 5)
            #expect(log.items.first?.action == "conversation.demographics")
            #expect(log.items.first?.detail.contains("age, region") == true)

            // Refused whole: nothing of a bad set is stored.
            var duplicate = ageAndRegion()
            duplicate.questions[1].key = "age"
            await #expect(throws: CharterError.self) {
                try await f.store.setDemographics(conversationID: c.id, duplicate, by: f.organiser)
            }
            var badTargets = ageAndRegion()
            badTargets.questions[0].targets = ["18-39": 0.4, "40-plus": 0.4]
            await #expect(throws: CharterError.self) {
                try await f.store.setDemographics(conversationID: c.id, badTargets, by: f.organiser)
            }
            let unchanged = try await f.store.demographics(conversationID: c.id)
            #expect(unchanged == saved)
            await #expect(throws: CharterError.notFound("Conversation")) {
                try await f.store.setDemographics(conversationID: c.id + 1000, ageAndRegion(), by: f.organiser)
            }
            // Each conversation has its own.
            let other = try await f.conversation("other")
            let otherSettings = try await f.store.demographics(conversationID: other.id)
            #expect(otherSettings.questions.isEmpty)
        },

        StoreRequirement("demographicAnswersAreRecordedOnceAndWithdrawnForReal") { f in
            let c = try await f.conversation()
            let s = try await f.seed(c, ["One"])
            _ = try await f.store.setDemographics(conversationID: c.id, ageAndRegion(), by: f.organiser)
            let voter = try await f.store.castVote(
                conversationID: c.id, participant: .anonymous("a"), statementID: s[0].id, value: .agree, at: Date())
            let before = try await f.store.demographicResponse(participantID: voter.participant.id)
            #expect(before == nil)

            // Checked against the questions: unknown question or option, nothing stored.
            await #expect(throws: CharterError.self) {
                try await f.store.recordDemographicResponse(
                    conversationID: c.id, participant: .anonymous("a"), answers: ["age": "99-plus"], at: Date())
            }
            await #expect(throws: CharterError.self) {
                try await f.store.recordDemographicResponse(
                    conversationID: c.id, participant: .anonymous("a"), answers: ["shoe": "42"], at: Date())
            }
            let stillNone = try await f.store.demographicResponse(participantID: voter.participant.id)
            #expect(stillNone == nil)

            let answered = try await f.store.recordDemographicResponse(
                conversationID: c.id, participant: .anonymous("a"),
                answers: ["age": "40-plus", "region": DemographicsSettings.preferNotToSay], at: Date())
            #expect(answered.participantID == voter.participant.id && answered.state == .answered)
            let read = try await f.store.demographicResponse(participantID: voter.participant.id)
            #expect(read?.state == .answered)
            #expect(read?.answers == ["age": "40-plus", "region": "prefer_not_to_say"])
            // Once: a second answer is refused, and the first stays.
            await #expect(throws: CharterError.self) {
                try await f.store.recordDemographicResponse(
                    conversationID: c.id, participant: .anonymous("a"), answers: ["age": "18-39"], at: Date())
            }

            // A skip is a response without answers; a new identity is created as a participant.
            let skipped = try await f.store.recordDemographicResponse(
                conversationID: c.id, participant: .anonymous("b"), answers: [:], at: Date())
            #expect(skipped.state == .skipped && skipped.answers.isEmpty)
            let third = try await f.store.recordDemographicResponse(
                conversationID: c.id, participant: .external("panel-3"), answers: ["region": "south"], at: Date())

            let all = try await f.store.demographicAnswers(conversationID: c.id)
            #expect(all[voter.participant.id] == ["age": "40-plus", "region": "prefer_not_to_say"])
            #expect(all[third.participantID] == ["region": "south"])
            #expect(all[skipped.participantID] == nil)

            // Withdrawal deletes the rows and keeps the participant from being asked again.
            let deleted = try await f.store.withdrawDemographicAnswers(
                conversationID: c.id, participantID: voter.participant.id, at: Date())
            #expect(deleted == 2)
            let withdrawn = try await f.store.demographicResponse(participantID: voter.participant.id)
            #expect(withdrawn?.state == .withdrawn && withdrawn?.answers == [:])
            let after = try await f.store.demographicAnswers(conversationID: c.id)
            #expect(after[voter.participant.id] == nil && after[third.participantID] == ["region": "south"])
            let again = try await f.store.withdrawDemographicAnswers(
                conversationID: c.id, participantID: voter.participant.id, at: Date())
            #expect(again == 0)
            // Another conversation's id withdraws nothing.
            let other = try await f.conversation("other")
            let foreign = try await f.store.withdrawDemographicAnswers(
                conversationID: other.id, participantID: third.participantID, at: Date())
            #expect(foreign == 0)
            let kept = try await f.store.demographicAnswers(conversationID: c.id)
            #expect(kept[third.participantID] == ["region": "south"])

            // Removing a question deletes its answers; the others stay.
            var fewer = ageAndRegion()
            fewer.questions.removeLast()
            _ = try await f.store.setDemographics(conversationID: c.id, fewer, by: f.organiser)
            let pruned = try await f.store.demographicAnswers(conversationID: c.id)
            #expect(pruned[third.participantID] == nil)

            // A closed conversation takes no answers.
            var closed = c.settings
            closed.state = .closed
            _ = try await f.store.updateConversation(id: c.id, closed, by: f.organiser)
            await #expect(throws: CharterError.conversationClosed) {
                try await f.store.recordDemographicResponse(
                    conversationID: c.id, participant: .anonymous("late"), answers: [:], at: Date())
            }
        },

        StoreRequirement("twoRacingDemographicAnswersStoreOne") { f in
            let c = try await f.conversation()
            _ = try await f.store.setDemographics(conversationID: c.id, ageAndRegion(), by: f.organiser)
            let store = f.store
            let outcomes = await withTaskGroup(of: Bool.self) { group in
                for option in ["18-39", "40-plus", "18-39", "40-plus"] {
                    group.addTask {
                        (try? await store.recordDemographicResponse(
                            conversationID: c.id, participant: .external("racer"), answers: ["age": option],
                            at: Date())) != nil
                    }
                }
                var results: [Bool] = []
                for await result in group { results.append(result) }
                return results
            }
            #expect(outcomes.filter { $0 }.count == 1)
            let answers = try await f.store.demographicAnswers(conversationID: c.id)
            #expect(answers.count == 1 && answers.values.first?.count == 1)
        },
    ]
}
