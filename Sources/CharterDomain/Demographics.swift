public import Foundation

/// One answer an organiser offers to a demographic question.
public struct DemographicOption: Sendable, Codable, Equatable {
    /// Names the option in storage, exports and target shares: `18-29`, `north`.
    public var key: String
    /// The option's words, by language tag.
    public var label: [String: String]

    public init(key: String, label: [String: String]) {
        self.key = key
        self.label = label
    }
}

/// An optional question about the participant (age band, region…), asked once per participant.
public struct DemographicQuestion: Sendable, Codable, Equatable {
    public var key: String
    /// The question, by language tag.
    public var text: [String: String]
    public var options: [DemographicOption]
    /// The share of the population each option should have (census figures, say), by option
    /// key, summing to 1; options left out count as 0. Nil when the organiser entered none.
    public var targets: [String: Double]?

    public init(key: String, text: [String: String], options: [DemographicOption], targets: [String: Double]? = nil) {
        self.key = key
        self.text = text
        self.options = options
        self.targets = targets
    }

    /// The option keys, in the organiser's order.
    public var optionKeys: [String] { options.map(\.key) }
}

/// A conversation's demographic questions and how they are asked.
public struct DemographicsSettings: Sendable, Codable, Equatable {
    public var questions: [DemographicQuestion]
    /// Participants are asked once they have cast this many votes (0: before the first).
    public var afterVotes: Int
    /// The organiser's consent text; empty means the participant pages' default one.
    public var consent: String

    /// The answer every question offers besides the organiser's options.
    public static let preferNotToSay = "prefer_not_to_say"
    public static let defaultAfterVotes = 1
    public static let maximumQuestions = 20
    public static let maximumOptions = 50

    public init(questions: [DemographicQuestion] = [], afterVotes: Int = Self.defaultAfterVotes, consent: String = "") {
        self.questions = questions
        self.afterVotes = afterVotes
        self.consent = consent
    }

    /// Whether participants are asked anything at all.
    public var asks: Bool { !questions.isEmpty }

    /// The question with this key.
    public func question(_ key: String) -> DemographicQuestion? { questions.first { $0.key == key } }

    /// Trims what should be trimmed and refuses what no conversation may hold, naming the
    /// question and option at fault.
    public func validated() throws(CharterError) -> DemographicsSettings {
        var s = self
        s.consent = consent.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (0...10_000).contains(afterVotes) else {
            throw .invalid(field: "after_votes", message: "after_votes must be a whole number from 0 to 10000.")
        }
        guard TextLength.fits(s.consent, characters: 5000),
            !ControlCharacters.present(in: s.consent, allowing: ["\n", "\r", "\t"])
        else {
            throw .invalid(
                field: "consent",
                message: "The consent text must be at most 5000 characters, without control characters.")
        }
        guard questions.count <= Self.maximumQuestions else {
            throw .invalid(
                field: "questions", message: "A conversation asks at most \(Self.maximumQuestions) questions.")
        }
        var seenQuestions = Set<String>()
        s.questions = []
        for question in questions {
            let checked = try Self.validated(question)
            guard seenQuestions.insert(checked.key).inserted else {
                throw .invalid(
                    field: "questions", message: "Two questions have the key “\(checked.key)”; each key must be unique."
                )
            }
            s.questions.append(checked)
        }
        return s
    }

    static func validated(_ question: DemographicQuestion) throws(CharterError) -> DemographicQuestion {
        var q = question
        guard Self.isValidKey(q.key) else {
            throw .invalid(
                field: "questions",
                message:
                    "A question key must be 1–40 lowercase letters, digits, “-” or “_”, starting with a letter or digit, not “\(question.key.prefix(40))”."
            )
        }
        q.text = try Self.validatedTexts(question.text, what: "The question “\(q.key)”", limit: 500)
        guard !question.options.isEmpty else {
            throw .invalid(field: "questions", message: "The question “\(q.key)” has no options; give it at least one.")
        }
        guard question.options.count <= Self.maximumOptions else {
            throw .invalid(
                field: "questions", message: "The question “\(q.key)” has more than \(Self.maximumOptions) options.")
        }
        var seenOptions = Set<String>()
        q.options = []
        for option in question.options {
            var o = option
            guard Self.isValidKey(o.key) else {
                throw .invalid(
                    field: "questions",
                    message:
                        "An option key of “\(q.key)” must be 1–40 lowercase letters, digits, “-” or “_”, starting with a letter or digit, not “\(option.key.prefix(40))”."
                )
            }
            guard o.key != Self.preferNotToSay else {
                throw .invalid(
                    field: "questions",
                    message:
                        "“\(Self.preferNotToSay)” is offered with every question already; the question “\(q.key)” may not name it."
                )
            }
            guard seenOptions.insert(o.key).inserted else {
                throw .invalid(
                    field: "questions",
                    message: "The question “\(q.key)” has two options with the key “\(o.key)”; each key must be unique."
                )
            }
            o.label = try Self.validatedTexts(option.label, what: "The option “\(o.key)” of “\(q.key)”", limit: 200)
            q.options.append(o)
        }
        if let targets = question.targets {
            q.targets = try Self.validatedTargets(targets, question: q)
        }
        return q
    }

    /// Target shares: every key an option, every share from 0 to 1, summing to 1 within 0.01
    /// (figures rounded to a percent). An empty set of targets is none.
    static func validatedTargets(_ targets: [String: Double], question q: DemographicQuestion) throws(CharterError)
        -> [String: Double]?
    {
        guard !targets.isEmpty else { return nil }
        let options = Set(q.optionKeys)
        var sum = 0.0
        for (key, share) in targets.sorted(by: { $0.key < $1.key }) {
            guard options.contains(key) else {
                throw .invalid(
                    field: "targets",
                    message:
                        "The targets of “\(q.key)” name “\(key.prefix(40))”, which is not one of its options (\(q.optionKeys.joined(separator: ", ")))."
                )
            }
            guard share.isFinite, (0...1).contains(share) else {
                throw .invalid(
                    field: "targets", message: "The target share of “\(key)” in “\(q.key)” must be from 0 to 1.")
            }
            sum += share
        }
        guard abs(sum - 1) <= Self.targetTolerance else {
            throw .invalid(
                field: "targets",
                message:
                    "The target shares of “\(q.key)” add up to \(String(format: "%.3f", sum)); they must add up to 1 (100%)."
            )
        }
        return targets
    }

    /// How far target shares may add up from 1.
    public static let targetTolerance = 0.01

    static func validatedTexts(_ texts: [String: String], what: String, limit: Int) throws(CharterError)
        -> [String: String]
    {
        guard texts.count <= 50 else {
            throw .invalid(field: "questions", message: "\(what) has texts in more than 50 languages.")
        }
        var out: [String: String] = [:]
        for (language, text) in texts.sorted(by: { $0.key < $1.key }) {
            guard LanguageCode.isValid(language) else {
                throw .invalid(
                    field: "questions",
                    message:
                        "\(what) names the language “\(language.prefix(40))”; use a lowercase tag such as en, de, pt-br or ar."
                )
            }
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else {
                throw .invalid(field: "questions", message: "\(what) has an empty text in \(language).")
            }
            guard TextLength.fits(trimmed, characters: limit), !ControlCharacters.present(in: trimmed) else {
                throw .invalid(
                    field: "questions",
                    message: "\(what) in \(language) must be at most \(limit) characters, without control characters.")
            }
            out[language] = trimmed
        }
        guard !out.isEmpty else {
            throw .invalid(field: "questions", message: "\(what) needs a text in at least one language.")
        }
        return out
    }

    public static func isValidKey(_ key: String) -> Bool {
        guard (1...40).contains(key.unicodeScalars.count), let first = key.unicodeScalars.first else { return false }
        func allowed(_ c: Unicode.Scalar) -> Bool {
            ("a"..."z").contains(c) || ("0"..."9").contains(c) || c == "-" || c == "_"
        }
        return first != "-" && first != "_" && key.unicodeScalars.allSatisfy(allowed)
    }

    /// A participant's answers checked against the questions: each key a question, each value
    /// one of its options or `prefer_not_to_say`. Empty answers are a skip.
    public func validatedAnswers(_ answers: [String: String]) throws(CharterError) -> [String: String] {
        for (key, option) in answers.sorted(by: { $0.key < $1.key }) {
            guard let question = question(key) else {
                throw .invalid(field: "answers", message: "There is no question “\(key.prefix(40))”.")
            }
            guard option == Self.preferNotToSay || question.optionKeys.contains(option) else {
                throw .invalid(
                    field: "answers", message: "“\(option.prefix(40))” is not an answer to the question “\(key)”.")
            }
        }
        return answers
    }

    /// The questions as stored (a JSON array, keys sorted, so equal settings store equal text).
    public static func encode(_ questions: [DemographicQuestion]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(questions) else { return "[]" }
        return String(decoding: data, as: UTF8.self)
    }

    /// The stored questions; none when the text cannot be read (it is only ever written by
    /// `encode`).
    public static func decode(_ text: String) -> [DemographicQuestion] {
        (try? JSONDecoder().decode([DemographicQuestion].self, from: Data(text.utf8))) ?? []
    }

    /// The text in the participant's language, else the conversation's, else the same primary
    /// language (`pt` for `pt-br`), else any (the first by tag, so the choice is stable).
    public static func text(_ texts: [String: String], language: String, fallback: String) -> String {
        for code in [language, fallback] {
            if let text = texts[code] { return text }
        }
        for code in [language, fallback] {
            let primary = code.split(separator: "-").first.map(String.init) ?? code
            if let match = texts.keys.sorted().first(where: {
                ($0.split(separator: "-").first.map(String.init) ?? $0) == primary
            }), let text = texts[match] {
                return text
            }
        }
        return texts.sorted { $0.key < $1.key }.first?.value ?? ""
    }
}

/// What a participant did when asked: answered (some answers may be `prefer_not_to_say`),
/// skipped, or answered and later withdrew their answers (which are then deleted).
public enum DemographicResponseState: String, Sendable, Codable, CaseIterable {
    case answered
    case skipped
    case withdrawn
}

/// A participant's response to the demographic questions.
public struct DemographicResponse: Sendable, Equatable {
    public var participantID: Int64
    public var state: DemographicResponseState
    /// Question key → option key (or `prefer_not_to_say`); empty unless answered.
    public var answers: [String: String]
    public var respondedAt: Date

    public init(participantID: Int64, state: DemographicResponseState, answers: [String: String], respondedAt: Date) {
        self.participantID = participantID
        self.state = state
        self.answers = answers
        self.respondedAt = respondedAt
    }
}

/// The opinion groups' make-up by one demographic question, with small cells hidden: a count of
/// fewer than `minimumCell` participants is never shown, and where one hidden cell could be
/// worked out from the totals shown beside it, the next smallest is hidden too.
public struct DemographicComposition: Sendable, Equatable {
    public static let minimumCell = 5
    /// The row of participants who gave no answer (skipped, were never asked, withdrew).
    public static let noAnswer = "no_answer"

    public var question: String
    /// Option keys, then `prefer_not_to_say`, then `no_answer`.
    public var rows: [String]
    /// Column 0 is every participant; column 1 + g is opinion group g.
    public var columnTotals: [Int]
    /// `cells[row][column]`: the count, or nil when hidden.
    public var cells: [[Int?]]
    /// Per column, how many chose one of the organiser's options (the base of the sample's
    /// shares against the targets).
    public var answeredTotals: [Int]

    /// The share of those who answered that chose option row `row`, in column `column`; nil
    /// when its cell is hidden or nobody answered.
    public func answeredShare(row: Int, column: Int = 0) -> Double? {
        guard row >= 0, row < cells.count, column >= 0, column < answeredTotals.count,
            let count = cells[row][column], answeredTotals[column] > 0
        else { return nil }
        return Double(count) / Double(answeredTotals[column])
    }

    /// The composition of `groups` (each a list of participant ids) and of all `participants`
    /// by the question.
    public static func compute(
        question: DemographicQuestion, answers: [Int64: [String: String]], participants: [Int64], groups: [[Int64]]
    ) -> DemographicComposition {
        let rows = question.optionKeys + [DemographicsSettings.preferNotToSay, noAnswer]
        let rowIndex = Dictionary(uniqueKeysWithValues: rows.enumerated().map { ($0.element, $0.offset) })
        let columns = [participants] + groups
        var counts = [[Int]](repeating: [Int](repeating: 0, count: columns.count), count: rows.count)
        for (c, members) in columns.enumerated() {
            for id in members {
                let answer = answers[id]?[question.key] ?? noAnswer
                let r = rowIndex[answer] ?? (rows.count - 1)
                counts[r][c] += 1
            }
        }
        let totals = columns.map(\.count)
        // Participants in no group: their counts per row are hidden, so a row's cells add up to
        // the first column only when every participant is in a group.
        let grouped = Set(groups.joined())
        let everyoneGrouped = participants.allSatisfy { grouped.contains($0) }
        let hidden = suppressed(
            counts, rowsAddUp: everyoneGrouped && !groups.isEmpty, optionRows: question.options.count)
        let cells = counts.enumerated().map { r, row in
            row.enumerated().map { c, count in hidden.contains(Cell(row: r, column: c)) ? nil : count }
        }
        let optionRows = question.options.count
        let answered = columns.indices.map { c in counts.prefix(optionRows).reduce(0) { $0 + $1[c] } }
        return DemographicComposition(
            question: question.key, rows: rows, columnTotals: totals, cells: cells, answeredTotals: answered)
    }

    struct Cell: Hashable {
        var row: Int
        var column: Int
    }

    /// Primary suppression (every count under `minimumCell`), then secondary, over every line
    /// whose total can be known: a column (its total is shown), a row when the rows add up
    /// (column 0 = the sum of the groups) and the first `optionRows` rows of column 0 (the
    /// sample's answers, whose total its shares give away). While a line hides exactly one cell
    /// (the total gives it away), or hides cells adding up to fewer than `minimumCell` (they
    /// could all be known to be empty, which gives the others away), its smallest shown cell is
    /// hidden too. Zeros count as fewer than 5.
    static func suppressed(_ counts: [[Int]], rowsAddUp: Bool, optionRows: Int = 0) -> Set<Cell> {
        var hidden = Set<Cell>()
        for (r, row) in counts.enumerated() {
            for (c, count) in row.enumerated() where count < minimumCell { hidden.insert(Cell(row: r, column: c)) }
        }
        // A row nobody in the sample gave (column 0 is everyone) is empty in every group too:
        // its cells read "fewer than 5" like any other, but they protect no one, so no other
        // cell is hidden on their account.
        let empty = Set(counts.indices.filter { counts[$0].first == 0 })
        let rows = counts.indices.filter { !empty.contains($0) }
        var lines: [[Cell]] = []
        let columnCount = counts.first?.count ?? 0
        for c in 0..<columnCount { lines.append(rows.map { Cell(row: $0, column: c) }) }
        if rowsAddUp {
            for r in rows { lines.append((0..<columnCount).map { Cell(row: r, column: $0) }) }
        }
        if optionRows > 1, columnCount > 0 {
            lines.append(rows.filter { $0 < optionRows }.map { Cell(row: $0, column: 0) })
        }
        var changed = true
        while changed {
            changed = false
            for line in lines {
                let inLine = line.filter { hidden.contains($0) }
                let hiddenTotal = inLine.reduce(0) { $0 + counts[$1.row][$1.column] }
                guard !inLine.isEmpty, inLine.count == 1 || hiddenTotal < minimumCell else { continue }
                let shown = line.filter { !hidden.contains($0) }
                guard let smallest = shown.min(by: { counts[$0.row][$0.column] < counts[$1.row][$1.column] }) else {
                    continue
                }
                hidden.insert(smallest)
                changed = true
            }
        }
        return hidden
    }
}

/// How the audit log words a change of the demographic questions.
public enum DemographicsAudit {
    public static func detail(_ settings: DemographicsSettings, deletedAnswers: Int) -> String {
        let keys = settings.questions.map(\.key)
        var parts = [
            keys.isEmpty
                ? "no questions"
                : "\(keys.count) question\(keys.count == 1 ? "" : "s") (\(keys.joined(separator: ", ")))",
            "asked after \(settings.afterVotes) vote\(settings.afterVotes == 1 ? "" : "s")",
        ]
        let targeted = settings.questions.filter { $0.targets != nil }.map(\.key)
        if !targeted.isEmpty { parts.append("targets for \(targeted.joined(separator: ", "))") }
        parts.append(settings.consent.isEmpty ? "the default consent text" : "the organiser's consent text")
        if deletedAnswers > 0 {
            parts.append("\(deletedAnswers) answer\(deletedAnswers == 1 ? "" : "s") to removed questions deleted")
        }
        return parts.joined(separator: "; ")
    }
}
