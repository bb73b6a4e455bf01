import CharterInput
import Foundation

/// One language's participant-facing texts, read from `Catalogues/<code>.json`: a flat object of
/// key → text, with `{name}` placeholders. Two keys describe the language itself:
/// `language_name` (its own name for itself, shown in the switch) and `language_direction`
/// (`ltr` or `rtl`).
struct Language: Sendable {
    let code: String
    let name: String
    let rightToLeft: Bool
    /// Every key of the fallback language, in this language where it has a text.
    let texts: [String: String]

    var direction: String { rightToLeft ? "rtl" : "ltr" }

    /// The text for `key` with its `{placeholders}` filled; the key itself when no catalogue has
    /// it (a fault of ours the catalogue test catches, never a crash).
    func text(_ key: String, _ values: [String: String] = [:]) -> String {
        guard var text = texts[key] else { return key }
        for (name, value) in values {
            text = text.replacingOccurrences(of: "{\(name)}", with: value)
        }
        return text
    }

    /// A count's text: `key_one` for 1 where the catalogue has it, else `key_other`.
    func count(_ key: String, _ n: Int, _ values: [String: String] = [:]) -> String {
        var values = values
        values["count"] = String(n)
        if n == 1, texts["\(key)_one"] != nil { return text("\(key)_one", values) }
        return text("\(key)_other", values)
    }
}

/// The languages the participant pages speak. A translator adds one by adding a catalogue file;
/// no code names the languages.
struct Catalogue: Sendable {
    static let fallbackCode = "en"
    /// The cookie the language switch sets.
    static let cookieName = "charter_lang"

    let languages: [String: Language]

    var fallback: Language {
        languages[Self.fallbackCode]
            ?? Language(code: Self.fallbackCode, name: "English", rightToLeft: false, texts: [:])
    }

    /// The languages, in their own names' order, for the switch.
    var sorted: [Language] { languages.values.sorted { $0.code < $1.code } }

    func language(_ code: String?) -> Language? {
        guard let code = code?.lowercased(), !code.isEmpty else { return nil }
        return languages[code]
    }

    /// Reads every `*.json` file of `directory`. A file that is not a flat object of texts stops
    /// the server at start: a broken translation must not reach participants.
    static func load(directory: URL) throws -> Catalogue {
        let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "json" }
        var raw: [String: [String: String]] = [:]
        for file in files {
            let code = file.deletingPathExtension().lastPathComponent.lowercased()
            do {
                raw[code] = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: file))
            } catch {
                throw CatalogueError(file: file.lastPathComponent, reason: "\(error)")
            }
        }
        return Catalogue(raw: raw)
    }

    init(raw: [String: [String: String]]) {
        let english = raw[Self.fallbackCode] ?? [:]
        var languages: [String: Language] = [:]
        for (code, texts) in raw {
            languages[code] = Language(
                code: code, name: texts["language_name"] ?? code,
                rightToLeft: texts["language_direction"] == "rtl",
                texts: english.merging(texts) { _, own in own })
        }
        self.languages = languages
    }

    /// The language a participant reads: `?lang=`, then the switch's cookie, then
    /// `Accept-Language`, then the conversation's own language, then English.
    func negotiate(query: String?, cookie: String?, acceptLanguage: String?, conversationDefault: String?) -> Language {
        if let chosen = language(query) ?? language(cookie) { return chosen }
        if let header = acceptLanguage, let code = AcceptLanguage.best(header, available: Set(languages.keys)),
            let chosen = language(code)
        {
            return chosen
        }
        return language(conversationDefault) ?? fallback
    }
}

struct CatalogueError: Error, CustomStringConvertible {
    let file: String
    let reason: String
    var description: String { "The language catalogue \(file) is not a JSON object of texts: \(reason)" }
}

extension Language: Equatable {
    static func == (a: Language, b: Language) -> Bool { a.code == b.code }
}
