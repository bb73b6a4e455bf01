import CharterDomain
import CharterStore
import Foundation
import Testing

// The language each statement is written in, and organisers' translations of statements.
extension StoreContract {
    static let translations: [StoreRequirement] = [
        StoreRequirement("statementsRecordTheLanguageTheyAreWrittenIn") { f in
            let c = try await f.conversation { $0.language = "en" }
            let plain = try await f.seed(c, ["The AI should be honest."])
            #expect(plain[0].language == nil && plain[0].language(in: c) == "en")
            let german = try await f.store.addSeedStatements(
                conversationID: c.id, texts: ["Die KI soll ehrlich sein."], language: "DE", by: f.organiser)
            #expect(german.added.map(\.language) == ["de"])
            let submitted = try await f.store.submitStatement(
                conversationID: c.id, participant: .anonymous("author"), text: "L'IA doit être polie.",
                language: "fr", at: Date())
            #expect(submitted.language == "fr")
            let read = try await f.store.statement(id: submitted.id)
            #expect(read?.language == "fr")
            let listed = try await f.store.allStatements(conversationID: c.id)
            #expect(listed.map(\.language) == [nil, "de", "fr"])
            // Not a language tag: nothing is added.
            await #expect(throws: CharterError.self) {
                try await f.store.addSeedStatements(
                    conversationID: c.id, texts: ["Another one."], language: "not a language", by: f.organiser)
            }
            await #expect(throws: CharterError.self) {
                try await f.store.submitStatement(
                    conversationID: c.id, participant: .anonymous("author"), text: "Yet another.",
                    language: "12", at: Date())
            }
            #expect(try await f.store.allStatements(conversationID: c.id).count == 3)
            // A reworded copy is in the language of the statement it rewords.
            let copy = try await f.store.addRewordedCopy(
                of: german.added[0].id, conversationID: c.id, text: "Die KI soll stets ehrlich sein.",
                by: f.organiser)
            #expect(copy.language == "de")
        },

        StoreRequirement("anOrganiserSetsAStatementsLanguageAudited") { f in
            let c = try await f.conversation { $0.language = "en" }
            let s = try await f.seed(c, ["Die KI soll ehrlich sein."])[0]
            let marked = try await f.store.setStatementLanguage(
                id: s.id, conversationID: c.id, language: "de", by: f.organiser)
            #expect(marked.language == "de")
            #expect(try await f.store.statement(id: s.id) == marked)
            let log = try await f.store.auditLog(statementID: s.id, limit: 10)
            #expect(log.first?.action == AuditAction.statementLanguage.rawValue)
            #expect(log.first?.detail.contains("de") == true)
            // Back to the conversation's language.
            let cleared = try await f.store.setStatementLanguage(
                id: s.id, conversationID: c.id, language: nil, by: f.organiser)
            #expect(cleared.language == nil)
            // Unknown statements, other conversations' statements and bad tags are refused.
            let elsewhere = try await f.conversation("elsewhere")
            await #expect(throws: CharterError.notFound("Statement")) {
                try await f.store.setStatementLanguage(
                    id: s.id, conversationID: elsewhere.id, language: "de", by: f.organiser)
            }
            await #expect(throws: CharterError.self) {
                try await f.store.setStatementLanguage(id: s.id, conversationID: c.id, language: "x y", by: f.organiser)
            }
            // A statement translated into German cannot be marked as written in German.
            _ = try await f.store.setTranslation(
                statementID: s.id, conversationID: c.id, language: "de", text: "Die KI soll ehrlich sein.",
                by: f.organiser)
            await #expect(throws: CharterError.self) {
                try await f.store.setStatementLanguage(id: s.id, conversationID: c.id, language: "de", by: f.organiser)
            }
            #expect(try await f.store.statement(id: s.id)?.language == nil)
        },

        StoreRequirement("translationsAreSetReplacedListedAndDeletedAudited") { f in
            let c = try await f.conversation { $0.language = "en" }
            let s = try await f.seed(c, ["The AI should be honest.", "The AI should be kind."])
            let de = try await f.store.setTranslation(
                statementID: s[0].id, conversationID: c.id, language: "de", text: "  Die KI soll ehrlich sein. ",
                by: f.organiser)
            #expect(de.statementID == s[0].id && de.language == "de" && de.text == "Die KI soll ehrlich sein.")
            _ = try await f.store.setTranslation(
                statementID: s[0].id, conversationID: c.id, language: "FR", text: "L'IA doit être honnête.",
                by: f.organiser)
            _ = try await f.store.setTranslation(
                statementID: s[1].id, conversationID: c.id, language: "de", text: "Die KI soll freundlich sein.",
                by: f.organiser)
            let first = try await f.store.translations(statementID: s[0].id)
            #expect(first.map(\.language) == ["de", "fr"])
            #expect(first.map(\.text) == ["Die KI soll ehrlich sein.", "L'IA doit être honnête."])
            // Replacing keeps one translation per language.
            let replaced = try await f.store.setTranslation(
                statementID: s[0].id, conversationID: c.id, language: "de", text: "Die KI muss ehrlich sein.",
                by: f.organiser)
            #expect(replaced.text == "Die KI muss ehrlich sein.")
            let all = try await f.store.translations(conversationID: c.id)
            #expect(all.keys.sorted() == [s[0].id, s[1].id])
            #expect(all[s[0].id]?.map(\.text) == ["Die KI muss ehrlich sein.", "L'IA doit être honnête."])
            #expect(all[s[1].id]?.map(\.language) == ["de"])
            // Another conversation's translations are not among them.
            let other = try await f.conversation("other")
            let elsewhere = try await f.seed(other, ["Something else."])
            _ = try await f.store.setTranslation(
                statementID: elsewhere[0].id, conversationID: other.id, language: "de", text: "Etwas anderes.",
                by: f.organiser)
            #expect(try await f.store.translations(conversationID: c.id).keys.sorted() == [s[0].id, s[1].id])

            let log = try await f.store.auditLog(statementID: s[0].id, limit: 10)
            let translated = log.filter { $0.action == AuditAction.statementTranslate.rawValue }
            #expect(translated.count == 3)
            #expect(translated.first?.detail.contains("Die KI soll ehrlich sein.") == true)
            #expect(translated.first?.detail.contains("Die KI muss ehrlich sein.") == true)

            #expect(
                try await f.store.deleteTranslation(
                    statementID: s[0].id, conversationID: c.id, language: "de", by: f.organiser))
            #expect(
                try await f.store.deleteTranslation(
                    statementID: s[0].id, conversationID: c.id, language: "de", by: f.organiser) == false)
            #expect(try await f.store.translations(statementID: s[0].id).map(\.language) == ["fr"])
            let deleted = try await f.store.auditLog(statementID: s[0].id, limit: 10).first
            #expect(deleted?.action == AuditAction.statementTranslationDelete.rawValue)
            #expect(deleted?.detail.contains("Die KI muss ehrlich sein.") == true)
            // The statement itself, its text and its votes are untouched.
            #expect(try await f.store.statement(id: s[0].id)?.text == "The AI should be honest.")
        },

        StoreRequirement("aTranslationIsRefusedIntoTheOwnLanguageOrInvalidAndChangesNothing") { f in
            let c = try await f.conversation { $0.language = "en" }
            let s = try await f.seed(c, ["The AI should be honest."])[0]
            let german = try await f.store.addSeedStatements(
                conversationID: c.id, texts: ["Die KI soll ehrlich sein."], language: "de", by: f.organiser
            ).added[0]
            let refused: [(Int64, String, String)] = [
                (s.id, "en", "The AI should be honest!"),  // the conversation's language is the statement's
                (german.id, "de", "Die KI soll ehrlich sein!"),  // the statement's own
                (s.id, "german", "Die KI soll ehrlich sein."),  // not a tag
                (s.id, "de", "   "),  // empty
                (s.id, "de", String(repeating: "x", count: 141)),  // longer than the conversation allows
                (s.id, "de", "Die KI\u{0}"),  // a control character
            ]
            for (id, language, text) in refused {
                await #expect(throws: CharterError.self, "\(language) \(text)") {
                    try await f.store.setTranslation(
                        statementID: id, conversationID: c.id, language: language, text: text, by: f.organiser)
                }
            }
            await #expect(throws: CharterError.notFound("Statement")) {
                try await f.store.setTranslation(
                    statementID: s.id + 1000, conversationID: c.id, language: "de", text: "Gibt es nicht.",
                    by: f.organiser)
            }
            let other = try await f.conversation("other")
            await #expect(throws: CharterError.notFound("Statement")) {
                try await f.store.setTranslation(
                    statementID: s.id, conversationID: other.id, language: "de", text: "Falsches Gespräch.",
                    by: f.organiser)
            }
            await #expect(throws: CharterError.notFound("Statement")) {
                try await f.store.deleteTranslation(
                    statementID: s.id, conversationID: other.id, language: "de", by: f.organiser)
            }
            #expect(try await f.store.translations(conversationID: c.id).isEmpty)
            let log = try await f.store.auditLog(statementID: s.id, limit: 10)
            #expect(!log.contains { $0.action == AuditAction.statementTranslate.rawValue })
            // An English statement of a German conversation may be translated into German.
            let english = try await f.store.addSeedStatements(
                conversationID: c.id, texts: ["Be brief."], language: "en", by: f.organiser
            ).added[0]
            var settings = c.settings
            settings.language = "de"
            let german2 = try await f.store.updateConversation(id: c.id, settings, by: f.organiser)
            #expect(s.language(in: german2) == "de" && english.language(in: german2) == "en")
            let translated = try await f.store.setTranslation(
                statementID: english.id, conversationID: c.id, language: "de", text: "Sei kurz.", by: f.organiser)
            #expect(translated.language == "de")
        },
    ]
}
