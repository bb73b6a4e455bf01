import CharterDomain
import Foundation
import Testing

@Suite struct DemographicsTests {
    static func question(
        _ key: String = "age", options: [String] = ["young", "old"], targets: [String: Double]? = nil
    ) -> DemographicQuestion {
        DemographicQuestion(
            key: key, text: ["en": "How old are you?"],
            options: options.map { DemographicOption(key: $0, label: ["en": $0.capitalized]) }, targets: targets)
    }

    static func refusal(_ settings: DemographicsSettings) -> String? {
        do {
            _ = try settings.validated()
            return nil
        } catch {
            return error.message
        }
    }

    @Test func questionsAreValidatedWithAMessageNamingTheFault() {
        #expect(Self.refusal(DemographicsSettings(questions: [Self.question()])) == nil)
        #expect(
            Self.refusal(DemographicsSettings(questions: [Self.question(), Self.question()]))?.contains(
                "Two questions have the key “age”") == true)
        #expect(
            Self.refusal(DemographicsSettings(questions: [Self.question(options: [])]))?.contains("no options") == true)
        #expect(
            Self.refusal(DemographicsSettings(questions: [Self.question(options: ["a", "a"])]))?.contains(
                "two options with the key “a”") == true)
        #expect(
            Self.refusal(DemographicsSettings(questions: [Self.question(options: ["a", "prefer_not_to_say"])]))?
                .contains("prefer_not_to_say") == true)
        #expect(Self.refusal(DemographicsSettings(questions: [Self.question("Age")])) != nil)
        #expect(
            Self.refusal(DemographicsSettings(questions: [Self.question(targets: ["young": 0.5, "middle": 0.5])]))?
                .contains("not one of its options") == true)
        #expect(
            Self.refusal(DemographicsSettings(questions: [Self.question(targets: ["young": 0.5, "old": 0.4])]))?
                .contains("add up to 0.900") == true)
        #expect(
            Self.refusal(DemographicsSettings(questions: [Self.question(targets: ["young": 0.6, "old": 0.395])])) == nil
        )
        #expect(
            Self.refusal(DemographicsSettings(questions: [Self.question(targets: ["young": .nan, "old": 1])])) != nil)
        var badLanguage = Self.question()
        badLanguage.text = ["EN": "How old?"]
        #expect(Self.refusal(DemographicsSettings(questions: [badLanguage])) != nil)
        var blank = Self.question()
        blank.text = ["en": "  "]
        #expect(Self.refusal(DemographicsSettings(questions: [blank])) != nil)
        #expect(Self.refusal(DemographicsSettings(questions: [], afterVotes: -1)) != nil)
        #expect(Self.refusal(DemographicsSettings(questions: [], consent: "\u{0}")) != nil)
    }

    @Test func answersMustNameAQuestionAndOneOfItsOptions() throws {
        let settings = DemographicsSettings(questions: [Self.question()])
        #expect(try settings.validatedAnswers(["age": "old"]) == ["age": "old"])
        #expect(try settings.validatedAnswers(["age": "prefer_not_to_say"]) == ["age": "prefer_not_to_say"])
        #expect(throws: CharterError.self) { try settings.validatedAnswers(["age": "ancient"]) }
        #expect(throws: CharterError.self) { try settings.validatedAnswers(["height": "tall"]) }
    }

    @Test func textsFallBackFromTheParticipantsLanguageToTheConversationsThenAny() {
        let texts = ["de": "Alter", "en": "Age", "pt": "Idade"]
        #expect(DemographicsSettings.text(texts, language: "de", fallback: "en") == "Alter")
        #expect(DemographicsSettings.text(texts, language: "fr", fallback: "en") == "Age")
        #expect(DemographicsSettings.text(texts, language: "pt-br", fallback: "en") == "Age")
        #expect(DemographicsSettings.text(texts, language: "pt-br", fallback: "ar") == "Idade")
        #expect(DemographicsSettings.text(["ja": "年齢"], language: "fr", fallback: "en") == "年齢")
    }

    /// Checks what no published table may allow: a shown count under 5, a line of the table
    /// (whose total is known) with a single hidden cell, or hidden cells adding up to under 5.
    static func expectProtected(_ composition: DemographicComposition, counts: [[Int]]) {
        for (r, row) in composition.cells.enumerated() {
            for (c, cell) in row.enumerated() {
                if let cell {
                    #expect(cell >= 5)
                    #expect(cell == counts[r][c])
                }
            }
        }
        var lines: [[(Int, Int)]] = (0..<counts[0].count).map { c in counts.indices.map { ($0, c) } }
        lines += counts.indices.map { r in (0..<counts[0].count).map { (r, $0) } }
        for line in lines {
            let hidden = line.filter { composition.cells[$0.0][$0.1] == nil }
            let total = hidden.reduce(0) { $0 + counts[$1.0][$1.1] }
            #expect(hidden.isEmpty || (hidden.count >= 2 && total >= 5), "\(line)")
        }
    }

    @Test func cellsOfFewerThanFiveAreNeverShown() {
        // 60 participants in two groups of 30. Group A: 20 young, 3 old, 5 prefer not to say,
        // 2 without an answer; group B: 10, 12, 5, 3.
        let participants = (0..<60).map(Int64.init)
        let groups = [Array(participants.prefix(30)), Array(participants.suffix(30))]
        let make: [(String?, Int)] = [
            ("young", 20), ("old", 3), ("prefer_not_to_say", 5), (nil, 2), ("young", 10), ("old", 12),
            ("prefer_not_to_say", 5), (nil, 3),
        ]
        var answers: [Int64: [String: String]] = [:]
        var next: Int64 = 0
        for (answer, count) in make {
            for _ in 0..<count {
                if let answer { answers[next] = ["age": answer] }
                next += 1
            }
        }
        let composition = DemographicComposition.compute(
            question: Self.question(), answers: answers, participants: participants, groups: groups)
        #expect(composition.rows == ["young", "old", "prefer_not_to_say", "no_answer"])
        #expect(composition.columnTotals == [60, 30, 30])
        let counts = [[30, 20, 10], [15, 3, 12], [10, 5, 5], [5, 2, 3]]
        Self.expectProtected(composition, counts: counts)
        #expect(composition.cells[1][1] == nil, "3 old participants in group A")
        #expect(composition.cells[3][1] == nil && composition.cells[3][2] == nil)
        // What can be shown is: the whole sample, and the young of each group.
        #expect(composition.cells.map { $0[0] } == [30, 15, 10, 5])
        #expect(composition.cells[0] == [30, 20, 10])

        // Shares against the targets are of those who chose an option, hidden with their cell.
        #expect(composition.answeredTotals == [45, 23, 22])
        #expect(composition.answeredShare(row: 0) == 30.0 / 45.0)
        #expect(composition.answeredShare(row: 1) == 15.0 / 45.0)
        #expect(composition.answeredShare(row: 1, column: 1) == nil)
        #expect(composition.answeredShare(row: 9) == nil)
    }

    @Test func aSmallSampleShowsNothing() {
        let participants: [Int64] = [1, 2, 3, 4]
        let answers: [Int64: [String: String]] = [1: ["age": "young"], 2: ["age": "old"], 3: ["age": "young"]]
        let composition = DemographicComposition.compute(
            question: Self.question(), answers: answers, participants: participants, groups: [participants])
        #expect(composition.cells.allSatisfy { $0.allSatisfy { $0 == nil } })
        #expect(composition.answeredShare(row: 0) == nil)
    }

    @Test func storedQuestionsRoundTrip() {
        let questions = [Self.question(targets: ["young": 0.25, "old": 0.75]), Self.question("region")]
        #expect(DemographicsSettings.decode(DemographicsSettings.encode(questions)) == questions)
        #expect(DemographicsSettings.decode("not json").isEmpty)
    }
}
