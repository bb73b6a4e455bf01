import Foundation

/// Rewrites a statement into the preference form a Constitutional-AI pipeline reads,
/// "Choose the response that …", by rules over the common statement forms. What the rules do
/// not recognise is quoted whole rather than guessed at.
public enum PrincipleWording {
    public static let prefix = "Choose the response that"

    public static func principle(from statement: String) -> String {
        var text = statement.trimmingCharacters(in: .whitespacesAndNewlines)
        while let last = text.last, ".!;:".contains(last) { text.removeLast() }
        guard !text.isEmpty else { return fallback(statement) }
        if let predicate = predicate(of: text) {
            return "\(prefix) \(predicate)."
        }
        return fallback(statement)
    }

    static func fallback(_ statement: String) -> String {
        "\(prefix) is most consistent with the principle: «\(statement.trimmingCharacters(in: .whitespacesAndNewlines))»"
    }

    /// Subjects a statement about the AI's behaviour starts with.
    static let subjects = [
        "the ai assistant", "the ai model", "the ai system", "the ai", "an ai assistant", "an ai", "ai assistants",
        "ai systems", "ai models", "ais", "ai", "the assistant", "the model", "the chatbot", "assistants", "it",
    ]

    /// Modal phrases after the subject, and whether they negate.
    static let modals: [(phrase: String, negated: Bool)] = [
        ("should not", true), ("shouldn't", true), ("must not", true), ("mustn't", true), ("may not", true),
        ("cannot", true), ("can't", true), ("should never", false), ("must never", false), ("should always", false),
        ("must always", false), ("should", false), ("must", false), ("needs to", false), ("need to", false),
        ("has to", false), ("have to", false), ("ought to", false), ("is to", false), ("will", false),
    ]

    /// The "…" after "Choose the response that", or nil when no rule applies.
    static func predicate(of text: String) -> String? {
        let lower = text.lowercased()
        for subject in subjects {
            guard lower.hasPrefix(subject + " ") else { continue }
            let rest = String(text.dropFirst(subject.count + 1))
            let restLower = rest.lowercased()
            for modal in modals where restLower.hasPrefix(modal.phrase + " ") {
                let body = String(rest.dropFirst(modal.phrase.count + 1))
                let adverb =
                    modal.phrase.hasSuffix("never") ? "never " : modal.phrase.hasSuffix("always") ? "always " : ""
                return verbPhrase(body, negated: modal.negated, adverb: adverb)
            }
            return nil
        }
        // Imperatives: "Be honest", "Don't lie", "Never share…", "Always cite…", "Respect privacy".
        for (phrase, negated, adverb) in [
            ("do not ", true, ""), ("don't ", true, ""), ("never ", false, "never "), ("always ", false, "always "),
        ] where lower.hasPrefix(phrase) {
            return verbPhrase(String(text.dropFirst(phrase.count)), negated: negated, adverb: adverb)
        }
        let first = lower.split(separator: " ").first.map(String.init) ?? ""
        if first == "be" || Verbs.known.contains(first) {
            return verbPhrase(text, negated: false, adverb: "")
        }
        return nil
    }

    /// "respect privacy and avoid harm" → "respects privacy and avoids harm"; negated:
    /// "does not respect privacy"; "be honest" → "is honest" / "is not honest".
    static func verbPhrase(_ body: String, negated: Bool, adverb: String) -> String? {
        var words = body.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard let first = words.first else { return nil }
        words[0] = lowercasedUnlessAcronym(first)
        // "the AI should always be …" and "should be …" read as "is …".
        if words[0] == "be" {
            words[0] =
                negated ? "is not" : (adverb.isEmpty ? "is" : "is \(adverb.trimmingCharacters(in: .whitespaces))")
            return words.joined(separator: " ")
        }
        if negated {
            return "does not " + words.joined(separator: " ")
        }
        words[0] = Verbs.thirdPerson(words[0])
        // Coordinated verbs: "… and avoid harm", "…, or ask".
        for i in 1..<words.count where ["and", "or"].contains(words[i - 1].lowercased()) {
            let candidate = words[i].lowercased()
            if Verbs.known.contains(candidate) { words[i] = Verbs.thirdPerson(candidate) }
            if candidate == "be" { words[i] = "is" }
        }
        return adverb + words.joined(separator: " ")
    }

    static func lowercasedUnlessAcronym(_ word: String) -> String {
        let letters = word.filter(\.isLetter)
        if letters.count > 1, letters.allSatisfy(\.isUppercase) { return word }
        return word.prefix(1).lowercased() + word.dropFirst()
    }
}

/// Just enough English verb morphology for the rewriter.
enum Verbs {
    static let known: Set<String> = [
        "accept", "acknowledge", "act", "add", "admit", "adapt", "advise", "aim", "align", "allow", "answer",
        "apologise",
        "apologize", "ask", "assist", "assume", "attempt", "avoid", "balance", "behave", "believe", "challenge",
        "change",
        "check", "choose", "cite", "clarify", "collect", "communicate", "comply", "consider", "consult", "contribute",
        "correct", "create", "deceive", "decline", "defer", "defend", "deny", "describe", "disclose", "discourage",
        "discriminate", "discuss", "distinguish", "do", "empower", "encourage", "engage", "ensure", "explain",
        "express",
        "fabricate", "favor", "favour", "flag", "focus", "follow", "foster", "generate", "give", "go", "guide", "have",
        "help", "highlight", "identify", "ignore", "impersonate", "include", "inform", "keep", "know", "lecture", "let",
        "lie", "limit", "listen", "make", "manipulate", "mention", "minimise", "minimize", "mislead", "moralise",
        "moralize", "note", "obey", "offer", "oppose", "point", "praise", "present", "pretend", "prioritise",
        "prioritize", "promote", "protect", "provide", "push", "question", "recognise", "recognize", "recommend",
        "reduce", "refer", "reflect", "refrain", "refuse", "remain", "remember", "remind", "report", "represent",
        "request", "respect", "respond", "reveal", "say", "seek", "share", "show", "speak", "state", "stay", "stick",
        "stop", "store", "strive", "suggest", "support", "take", "teach", "tell", "think", "treat", "try", "understand",
        "use", "value", "verify", "warn", "work", "write",
    ]

    static func thirdPerson(_ verb: String) -> String {
        switch verb {
        case "be": return "is"
        case "have": return "has"
        case "do": return "does"
        case "go": return "goes"
        default: break
        }
        let lower = verb.lowercased()
        if ["s", "sh", "ch", "x", "z", "o"].contains(where: { lower.hasSuffix($0) }) { return verb + "es" }
        if lower.hasSuffix("y"), lower.count > 1, !"aeiou".contains(lower[lower.index(lower.endIndex, offsetBy: -2)]) {
            return String(verb.dropLast()) + "ies"
        }
        return verb + "s"
    }
}
