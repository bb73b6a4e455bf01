public import Foundation

/// The formats a constitution is exported in.
public enum ConstitutionFormat: String, Sendable, CaseIterable {
    case json, md, cai, txt

    public var contentType: String {
        switch self {
        case .json, .cai: "application/json; charset=utf-8"
        case .md: "text/markdown; charset=utf-8"
        case .txt: "text/plain; charset=utf-8"
        }
    }

    public var fileName: String {
        switch self {
        case .json: "constitution.json"
        case .md: "constitution.md"
        case .cai: "cai.json"
        case .txt: "principles.txt"
        }
    }
}

extension Constitution {
    /// The constitution in a format. `translations` (lead statement id → language → text) are
    /// listed under each principle in Markdown, beside the hashed document, never in it: they
    /// come from the store when the file is exported, and other formats leave them out.
    public func rendered(_ format: ConstitutionFormat, translations: [Int64: [String: String]] = [:]) throws -> Data {
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            return try encoder.encode(self)
        case .txt:
            return Data((principles.map(\.text).joined(separator: "\n") + "\n").utf8)
        case .cai:
            struct Pair: Encodable {
                let critic: String
                let revision: String
            }
            struct CAI: Encodable {
                let constitutions: [Pair]
                let systemChat: [String]
                enum CodingKeys: String, CodingKey {
                    case constitutions
                    case systemChat = "system_chat"
                }
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            return try encoder.encode(
                CAI(
                    constitutions: principles.map {
                        Pair(
                            critic: $0.critique ?? ConstitutionCompiler.critique($0.text),
                            revision: $0.revision ?? ConstitutionCompiler.revision($0.text))
                    }, systemChat: []))
        case .md:
            let md = MarkdownText.escaped
            var out = "# \(md(name))\n\n\(md(description))\n\n"
            if let sha256 { out += "Version \(version) · sha256 `\(sha256)`\n\n" }
            if let report {
                out +=
                    "From \(report.votes) votes by \(report.participants) participants in \(report.groups) opinion groups: "
                    + "\(report.statements) statements, \(report.eligible) eligible, \(report.selected) selected"
                    + (parameters.map { " by the \($0.rule.rawValue) rule at \(String(format: "%.2f", $0.threshold))" }
                        ?? "")
                    + ".\n\n"
            }
            out += "## Principles\n\n"
            for (index, principle) in principles.enumerated() {
                let number = "\(index + 1). "
                out += number + md(principle.text) + "\n"
                // Translations of the statement the principle is led by, as a list inside the item.
                guard let lead = principle.sources?.first?.statement, let translated = translations[lead] else {
                    continue
                }
                let indent = String(repeating: " ", count: number.count)
                for (language, text) in translated.sorted(by: { $0.key < $1.key }) {
                    out += "\(indent)- \(md(language)): \(md(text))\n"
                }
            }
            let traced = principles.filter { !($0.sources ?? []).isEmpty }
            if !traced.isEmpty {
                out += "\n## Provenance\n\n"
                for (index, principle) in principles.enumerated() {
                    guard let sources = principle.sources, !sources.isEmpty else { continue }
                    out += "\(index + 1). "
                    out += sources.map { "“\(md($0.text))” (statement \(md($0.sourceId ?? String($0.statement))))" }
                        .joined(separator: "; ")
                    if let shares = principle.groupAgreeShares {
                        out +=
                            " — agree share by group: "
                            + shares.enumerated().map {
                                "\(ConstitutionCompiler.groupLetter($0.offset)) \(Int(($0.element * 100).rounded()))%"
                            }.joined(separator: ", ")
                    }
                    if let gac = principle.gac { out += String(format: "; GAC %.3f", gac) }
                    if let votes = principle.votes { out += "; \(votes) votes" }
                    out += "\n"
                }
            }
            return Data(out.utf8)
        }
    }
}

/// Participants' words in a Markdown document: raw HTML and link syntax are written so that a
/// renderer shows them as text (`<script>` stays visible, never runs; `[x](javascript:…)` is
/// no link).
enum MarkdownText {
    static func escaped(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "[", "]", "(", ")", "`", "*", "_", "\\", "!": out += "\\" + String(character)
            default: out.append(character)
            }
        }
        return out
    }
}
