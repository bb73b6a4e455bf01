import CharterDomain
import CharterHTTP
import CharterServices
import CharterStore
import CharterTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// Demographic questions: the organisers' API and page, the participant asked once, withdrawal,
/// the analysis page's compositions, the export and weighting.
@Suite struct DemographicsHTTPTests {
    static let ageAndRegion = """
        {"after_votes": 1, "questions": [
          {"key": "age", "text": {"en": "How old are you?", "de": "Wie alt sind Sie?"},
           "options": [{"key": "18-39", "label": {"en": "18 to 39", "de": "18 bis 39"}},
                       {"key": "40-plus", "label": {"en": "40 or older", "de": "40 oder älter"}}],
           "targets": {"18-39": 0.45, "40-plus": 0.55}},
          {"key": "region", "text": {"en": "Where do you live?"},
           "options": [{"key": "north", "label": {"en": "North"}}, {"key": "south", "label": {"en": "South"}}]}
        ]}
        """

    @Test func theAPIStoresQuestionsAndRefusesBadOnesWithA400ThatSaysWhy() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            let path = "/api/v1/conversations/town/demographics"
            let empty = try await client.json(.get, path, headers: h.organiserHeaders)
            #expect(empty.status == .ok)
            let none = try empty.decoded()
            #expect((none["questions"] as? [Any])?.isEmpty == true && none["after_votes"] as? Int == 1)

            let saved = try await client.json(.put, path, Self.ageAndRegion, headers: h.organiserHeaders)
            #expect(saved.status == .ok, "\(saved.text)")
            let read = try await client.json(.get, path, headers: h.organiserHeaders)
            #expect(read.text == saved.text)
            let questions = try #require(try read.decoded()["questions"] as? [[String: Any]])
            #expect(questions.map { $0["key"] as? String } == ["age", "region"])
            // Option keys and language tags are data: no key strategy touches them.
            #expect(read.text.contains(#""18-39":0.45"#) && read.text.contains(#""de":"Wie alt sind Sie?""#))

            func refused(_ body: String, saying words: String) async throws {
                let answer = try await client.json(.put, path, body, headers: h.organiserHeaders)
                #expect(answer.status == .badRequest, "\(body.prefix(80))")
                let message = ((try? answer.decoded())?["error"] as? [String: Any])?["message"] as? String ?? ""
                #expect(message.contains(words), "\(message)")
            }
            let option = #"{"key": "a", "label": {"en": "A"}}, {"key": "b", "label": {"en": "B"}}"#
            try await refused(
                #"{"questions": [{"key": "q", "text": {"en": "Q?"}, "options": [\#(option)], "targets": {"a": 0.5, "zz": 0.5}}]}"#,
                saying: "“zz”, which is not one of its options")
            try await refused(
                #"{"questions": [{"key": "q", "text": {"en": "Q?"}, "options": [\#(option)]}, {"key": "q", "text": {"en": "Again?"}, "options": [\#(option)]}]}"#,
                saying: "Two questions have the key “q”")
            try await refused(
                #"{"questions": [{"key": "q", "text": {"en": "Q?"}, "options": []}]}"#, saying: "has no options")
            try await refused(
                #"{"questions": [{"key": "q", "text": {"en": "Q?"}, "options": [\#(option)], "targets": {"a": 0.5, "b": 0.3}}]}"#,
                saying: "add up to 0.800; they must add up to 1")
            try await refused(
                #"{"questions": [{"key": "q", "text": {"en": "Q?"}, "options": [\#(option), {"key": "a", "label": {"en": "A again"}}]}]}"#,
                saying: "two options with the key “a”")
            try await refused(#"{"questions": [{"key": "q""#, saying: "malformed")
            try await refused(#"{"after_votes": "one", "questions": []}"#, saying: "wrong type")
            try await refused(#"{"after_votes": -2, "questions": []}"#, saying: "after_votes")
            try await refused(#"{"consent": null, "questions": []}"#, saying: "consent")

            // Nothing of a refused set was stored; the change was audited.
            let after = try await client.json(.get, path, headers: h.organiserHeaders)
            #expect(after.text == saved.text)
            let audit = try await h.store.auditLog(conversationID: h.conversation.id, offset: 0, limit: 5)
            #expect(audit.items.first?.action == "conversation.demographics")
            // Participants and strangers do not read them.
            let anonymous = try await client.json(.get, path)
            #expect(anonymous.status == .unauthorized)
        }
    }

    static func settings(afterVotes: Int = 1) -> DemographicsSettings {
        DemographicsSettings(
            questions: [
                DemographicQuestion(
                    key: "age", text: ["en": "How old are you?", "de": "Wie alt sind Sie?"],
                    options: [
                        DemographicOption(key: "18-39", label: ["en": "18 to 39", "de": "18 bis 39"]),
                        DemographicOption(key: "40-plus", label: ["en": "40 or older", "de": "40 oder älter"]),
                    ], targets: ["18-39": 0.45, "40-plus": 0.55]),
                DemographicQuestion(
                    key: "region", text: ["en": "Where do you live?"],
                    options: [
                        DemographicOption(key: "north", label: ["en": "North"]),
                        DemographicOption(key: "south", label: ["en": "South"]),
                    ]),
            ], afterVotes: afterVotes)
    }

    static func vote(_ browser: inout Browser, _ page: Browser.Page) async throws -> Browser.Page {
        let id = try #require(page.input("statement"))
        return try await browser.post(
            "/c/town/vote", form: [("csrf", try #require(page.csrf)), ("statement", id), ("vote", "agree")])
    }

    @Test func demographicsAreAskedOnceAfterTheFirstVoteStoredAndWithdrawn() async throws {
        let h = try await Harness.make()
        _ = try await h.store.setDemographics(conversationID: h.conversation.id, Self.settings(), by: .system)
        try await h.test { client in
            var browser = Browser(client: client)
            var page = try await browser.get("/c/town")
            // Not before the first vote.
            #expect(!page.contains(#"action="/c/town/demographics""#))
            #expect(page.contains(#"class="vote""#))
            page = try await Self.vote(&browser, page)
            // After it, in place of the next statement: the questions, the consent text, a skip.
            #expect(page.contains(#"<form method="post" action="/c/town/demographics" class="demographics">"#))
            #expect(!page.contains(#"class="vote""#))
            #expect(page.contains("How old are you?") && page.contains("40 or older"))
            #expect(page.contains("These questions are optional."))
            #expect(page.contains(#"name="q_age" value="prefer_not_to_say""#) && page.contains("Prefer not to say"))
            #expect(page.contains(#"name="action" value="skip""#))
            let csrf = try #require(page.csrf)

            // Without the page's token nothing is stored.
            var stranger = Browser(client: client)
            let forged = try await stranger.post(
                "/c/town/demographics", form: [("csrf", csrf), ("q_age", "18-39"), ("action", "answer")])
            #expect(forged.status == .forbidden)

            page = try await browser.post(
                "/c/town/demographics",
                form: [("csrf", csrf), ("q_age", "40-plus"), ("q_region", "prefer_not_to_say"), ("action", "answer")])
            #expect(page.path == "/c/town?done=demographics" && page.fragment == "statement")
            #expect(page.contains("Thank you — your answers were saved."))
            // Asked once: the statement is back, and the questions are gone for good.
            #expect(page.contains(#"class="vote""#) && !page.contains(#"class="demographics""#))
            #expect(page.contains("Your answers about yourself") && page.contains("<dd dir=\"auto\">40 or older</dd>"))
            let participant = try #require(
                try await h.store.participants(conversationID: h.conversation.id).first)
            let stored = try await h.store.demographicResponse(participantID: participant.id)
            #expect(stored?.state == .answered)
            #expect(stored?.answers == ["age": "40-plus", "region": "prefer_not_to_say"])
            page = try await Self.vote(&browser, page)
            #expect(!page.contains(#"class="demographics""#))

            // A second post (a double tap) changes nothing.
            page = try await browser.post(
                "/c/town/demographics", form: [("csrf", csrf), ("q_age", "18-39"), ("action", "answer")])
            #expect(page.status == .ok && page.path == "/c/town?done=demographics")
            let unchanged = try await h.store.demographicResponse(participantID: participant.id)
            #expect(unchanged?.answers["age"] == "40-plus")

            // Withdrawal deletes the answers themselves.
            page = try await browser.post("/c/town/demographics/delete", form: [("csrf", csrf)])
            #expect(page.path == "/c/town?done=demographics-deleted")
            #expect(page.contains("Your answers about yourself were deleted."))
            #expect(!page.contains("Your answers about yourself</h2>") && !page.contains(#"class="demographics""#))
            let answers = try await h.store.demographicAnswers(conversationID: h.conversation.id)
            #expect(answers.isEmpty)
            let withdrawn = try await h.store.demographicResponse(participantID: participant.id)
            #expect(withdrawn?.state == .withdrawn && withdrawn?.answers.isEmpty == true)
        }
    }

    @Test func aSkipIsFinalATamperedAnswerIsA400AndTheQuestionsSpeakTheParticipantsLanguage() async throws {
        let h = try await Harness.make()
        _ = try await h.store.setDemographics(conversationID: h.conversation.id, Self.settings(), by: .system)
        try await h.test { client in
            var german = Browser(client: client)
            var page = try await german.get("/c/town?lang=de")
            page = try await Self.vote(&german, page)
            #expect(page.contains("Wie alt sind Sie?") && page.contains("40 oder älter"))
            #expect(page.contains("Keine Angabe"))
            // No German text: the conversation's language.
            #expect(page.contains("Where do you live?"))
            let tampered = try await german.post(
                "/c/town/demographics", form: [("csrf", try #require(page.csrf)), ("q_age", "99-plus")])
            #expect(tampered.status == .badRequest)
            // In English the page says what was wrong.
            var english = Browser(client: client)
            let englishPage = try await Self.vote(&english, try await english.get("/c/town"))
            let refused = try await english.post(
                "/c/town/demographics", form: [("csrf", try #require(englishPage.csrf)), ("q_age", "99-plus")])
            #expect(refused.status == .badRequest)
            #expect(refused.contains("“99-plus” is not an answer to the question “age”"))
            page = try await german.post(
                "/c/town/demographics",
                form: [("csrf", try #require(page.csrf)), ("q_age", "18-39"), ("action", "skip")])
            #expect(page.path == "/c/town?done=demographics-skipped")
            #expect(!page.contains(#"class="demographics""#) && !page.contains(#"class="my-answers""#))
            var states: [DemographicResponseState?] = []
            for participant in try await h.store.participants(conversationID: h.conversation.id) {
                let response = try await h.store.demographicResponse(participantID: participant.id)
                states.append(response?.state)
                if let response { #expect(response.answers.isEmpty) }
            }
            // The German participant skipped; the tampered English answer stored nothing.
            #expect(states.contains(.skipped) && states.contains(nil) && states.count == 2)
        }
    }

    @Test func askedBeforeTheFirstVoteWhenTheOrganiserSaysSo() async throws {
        let h = try await Harness.make()
        _ = try await h.store.setDemographics(
            conversationID: h.conversation.id, Self.settings(afterVotes: 0), by: .system)
        try await h.test { client in
            var browser = Browser(client: client)
            let page = try await browser.get("/c/town")
            #expect(page.contains(#"class="demographics""#))
            let answered = try await browser.post(
                "/c/town/demographics", form: [("csrf", try #require(page.csrf)), ("q_region", "north")])
            #expect(answered.path == "/c/town?done=demographics")
            // The participant was made by the answer, which counts as joining.
            #expect(try await h.store.counts().participants == 1)
        }
    }

    /// 40 participants in two opinion groups, with answers known: the analysis page shows the
    /// groups' make-up with small cells hidden, and the sample against the targets.
    static func populate(_ h: Harness) async throws {
        _ = try await h.store.setDemographics(conversationID: h.conversation.id, Self.settings(), by: .system)
        for p in 0..<40 {
            let camp: VoteValue = p.isMultiple(of: 2) ? .agree : .disagree
            for (index, statement) in h.statements.enumerated() {
                _ = try await h.store.castVote(
                    conversationID: h.conversation.id, participant: .anonymous("p\(p)"), statementID: statement.id,
                    value: index == 4 ? .pass : camp, at: Date())
            }
            // Group of the evens: 16 young, 4 old; of the odds: 12 young, 8 old. Regions: 3 of
            // the evens south.
            let rank = p / 2
            let young = p.isMultiple(of: 2) ? rank < 16 : rank < 12
            var answers = ["age": young ? "18-39" : "40-plus"]
            answers["region"] = p.isMultiple(of: 2) && rank < 3 ? "south" : "north"
            _ = try await h.store.recordDemographicResponse(
                conversationID: h.conversation.id, participant: .anonymous("p\(p)"), answers: answers, at: Date())
        }
        _ = await h.analysis.analyze(h.conversation.id)
    }

    @Test func theAnalysisPageShowsEachGroupsMakeUpAndTheSampleAgainstTheTargets() async throws {
        let h = try await Harness.make()
        try await Self.populate(h)
        let stored = try #require(try await h.store.latestAnalysis(conversationID: h.conversation.id))
        let result = try ConversationAnalysis.decode(stored)
        #expect(result.k == 2)
        try await h.test { client in
            var browser = Browser(client: client)
            _ = try await AdminSession.signIn(&browser)
            let page = try await browser.get("/admin/conversations/town/analysis")
            #expect(page.status == .ok)
            #expect(page.contains("Who is in each group"))
            #expect(page.contains("Participants by “age”") && page.contains("Participants by “region”"))
            // All 40: 28 young (70%), 12 old; the groups of 20: 16 and 4 (hidden), 12 and 8.
            #expect(page.contains("<td>28 (70%)</td>"))
            #expect(page.contains("fewer than 5"))
            #expect(!page.contains("<td>4 (20%)</td>"), "a group's 4 old participants are never shown")
            #expect(!page.contains("<td>3 (15%)</td>"), "nor the 3 from the south")
            // The sample against the targets: 70% young against 45%.
            #expect(page.contains("The sample against the target shares"))
            #expect(page.contains("<th scope=\"row\">18 to 39</th><td>45%</td><td>70%</td><td>+25.0 points</td>"))
            #expect(page.contains("<td>55%</td><td>30%</td><td>-25.0 points</td>"))
        }
    }

    @Test func theAdminPageSavesQuestionsWrittenAsText() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            _ = try await AdminSession.signIn(&browser)
            var page = try await browser.get("/admin/conversations/town/demographics")
            #expect(page.status == .ok)
            #expect(page.contains("No questions yet"))
            let csrf = try #require(page.csrf)
            let form: [(String, String)] = [
                ("csrf", csrf), ("count", "1"), ("after_votes", "2"), ("consent", "We ask to check the sample."),
                ("q0_new", "1"), ("q0_key", "age"), ("q0_text", "How old are you? [de] Wie alt sind Sie?"),
                ("q0_options", "18-39: 18 to 39 [de] 18 bis 39\n40-plus: 40 or older"),
                ("q0_targets", "18-39: 45%\n40-plus: 0.55"),
            ]
            page = try await browser.post("/admin/conversations/town/demographics", form: form)
            #expect(page.path == "/admin/conversations/town/demographics?done=saved", "\(page.body.prefix(300))")
            #expect(page.contains("Demographic questions saved."))
            let saved = try await h.store.demographics(conversationID: h.conversation.id)
            #expect(saved.afterVotes == 2 && saved.consent == "We ask to check the sample.")
            #expect(saved.questions.first?.text == ["en": "How old are you?", "de": "Wie alt sind Sie?"])
            #expect(saved.questions.first?.options.first?.label == ["en": "18 to 39", "de": "18 bis 39"])
            #expect(saved.questions.first?.targets == ["18-39": 0.45, "40-plus": 0.55])
            // Written back as it was typed.
            #expect(page.contains("How old are you? [de] Wie alt sind Sie?"))
            #expect(page.contains("18-39: 45%"))

            // Targets that do not add up come back with the message and the typed text.
            var bad = form
            bad[bad.count - 1] = ("q0_targets", "18-39: 45%\n40-plus: 45%")
            page = try await browser.post("/admin/conversations/town/demographics", form: bad)
            #expect(page.status == .unprocessableContent)
            #expect(page.contains("add up to 0.900"))
            #expect(page.contains("40-plus: 45%"))
            let kept = try await h.store.demographics(conversationID: h.conversation.id)
            #expect(kept == saved)
            // Without the session's token nothing changes.
            var other = Browser(client: client)
            let forged = try await other.post("/admin/conversations/town/demographics", form: form)
            #expect(forged.path == "/admin/login" || forged.status == .unauthorized || forged.status == .forbidden)
        }
    }

    @Test func theExportHoldsTheAnswersBesideThePolisFiles() async throws {
        let h = try await Harness.make()
        try await Self.populate(h)
        let files = try await ConversationExport.polisFiles(conversation: h.conversation, store: h.store)
        let csv = try #require(files["participant-demographics.csv"])
        let lines = csv.split(separator: "\n")
        #expect(lines.first == "participant,age,region")
        #expect(lines.count == 41)
        #expect(lines.contains { $0.hasSuffix(",40-plus,north") })
        // A conversation without questions exports the Polis files alone.
        let plain = try await h.store.createConversation(
            ConversationSettings(slug: "plain", title: "Plain", question: "Q?"), by: .system)
        let plainFiles = try await ConversationExport.polisFiles(conversation: plain, store: h.store)
        #expect(plainFiles["participant-demographics.csv"] == nil)
    }

    @Test func weightingIsAParameterOfTheCompileAndItsReport() async throws {
        let h = try await Harness.make()
        try await Self.populate(h)
        try await h.test { client in
            let off = try await client.json(.get, "/api/v1/conversations/town/compile", headers: h.organiserHeaders)
            #expect(off.status == .ok)
            #expect(!off.text.contains("weighting"))
            let on = try await client.json(
                .get, "/api/v1/conversations/town/compile?weighting=true&weight_cap=4", headers: h.organiserHeaders)
            #expect(on.status == .ok)
            let constitution = try #require(try on.decoded()["constitution"] as? [String: Any])
            let parameters = try #require(constitution["parameters"] as? [String: Any])
            let weighting = try #require(parameters["weighting"] as? [String: Any])
            #expect(weighting["cap"] as? Double == 4)
            let report = try #require((constitution["report"] as? [String: Any])?["weighting"] as? [String: Any])
            #expect(report["participants"] as? Int == 40 && report["answered"] as? Int == 40)
            let ess = try #require(report["effective_sample_size"] as? Double)
            #expect(ess > 20 && ess < 40)
            let badCap = try await client.json(
                .get, "/api/v1/conversations/town/compile?weighting=true&weight_cap=0.5", headers: h.organiserHeaders)
            #expect(badCap.status == .unprocessableContent)
        }
    }
}
