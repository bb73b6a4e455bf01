import CharterCompiler
import CharterDomain
import CharterHTTP
import CharterStore
import CharterTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// Statements in several languages (issue 15): each statement's language, organisers'
/// translations, the participant page's choice between them, and the Markdown export.
@Suite struct TranslationTests {
    static let german = [
        "Die KI soll ehrlich sein.", "Die KI soll freundlich sein.", "Die KI soll Quellen nennen.",
        "Die KI soll gefährliche Anfragen ablehnen.", "Die KI soll die Privatsphäre achten.",
    ]

    /// The language and text of the statement the page asks about.
    static func shown(_ page: Browser.Page) -> [String] {
        element(page, #"<blockquote id="statement-text" lang="([^"]+)"[^>]*>([^<]*)</blockquote>"#)
    }

    /// The language and text of the statement the "your last vote" line names.
    static func lastVote(_ page: Browser.Page) -> [String] {
        element(
            page, #"<section class="undo">\s*<p>[^<]*<strong>[^<]*</strong>[^<]*<q lang="([^"]+)"[^>]*>([^<]*)</q>"#)
    }

    /// The language and text of the original a translation folds away.
    static func original(_ page: Browser.Page) -> [String] {
        element(
            page,
            #"<details class="original"><summary>[^<]*</summary><blockquote lang="([^"]+)"[^>]*>([^<]*)</blockquote>"#)
    }

    static func element(_ page: Browser.Page, _ pattern: String) -> [String] {
        guard let regex = try? NSRegularExpression(pattern: pattern),
            let match = regex.firstMatch(in: page.body, range: NSRange(page.body.startIndex..., in: page.body))
        else { return [] }
        return (1..<match.numberOfRanges).compactMap {
            Range(match.range(at: $0), in: page.body).map { String(page.body[$0]) }
        }
    }

    /// Every seed of the harness translated into German.
    static func translateAll(_ h: Harness) async throws {
        for (statement, text) in zip(h.statements, german) {
            _ = try await h.store.setTranslation(
                statementID: statement.id, conversationID: h.conversation.id, language: "de", text: text,
                by: .system)
        }
    }

    @Test func aGermanPageShowsTheTranslationWithTheOriginalOneTapAwayAndItsVoteCountsForTheStatement()
        async throws
    {
        let h = try await Harness.make()
        try await Self.translateAll(h)
        try await h.test { client in
            var browser = Browser(client: client)
            let page = try await browser.get("/c/town?lang=de")
            #expect(page.contains(#"<html lang="de""#))
            let id = try #require(page.input("statement").flatMap(Int64.init))
            let index = try #require(h.statements.firstIndex { $0.id == id })
            #expect(Self.shown(page) == ["de", Self.german[index]])
            // Marked as a translation, the original one tap away in its own language.
            #expect(page.contains(#"<p class="translated">"#))
            #expect(Self.original(page) == ["en", h.statements[index].text], "the original is folded away")

            // The vote cast on the German wording counts for the one statement.
            let voted = try await browser.post(
                "/c/town/vote", form: [("csrf", page.csrf ?? ""), ("statement", String(id)), ("vote", "agree")])
            #expect(voted.path == "/c/town?done=vote")
            let votes = try await h.store.votes(conversationID: h.conversation.id)
            #expect(votes.map(\.statementID) == [id] && votes.map(\.value) == [.agree])
            // The "your last vote" line reads the same wording, in its language.
            #expect(Self.lastVote(voted) == ["de", Self.german[index]])
            #expect(voted.body.utf8.count < 30_000)

            // An English page shows the original, with its language and no translation marker.
            var english = Browser(client: client)
            let original = try await english.get("/c/town?lang=en")
            let shown = try #require(original.input("statement").flatMap(Int64.init))
            let text = try #require(h.statements.first { $0.id == shown }?.text)
            #expect(Self.shown(original) == ["en", text])
            #expect(!original.contains(#"class="translated""#) && !original.contains(#"class="original""#))
        }
    }

    @Test func withoutATranslationThePageShowsTheOriginalInItsLanguage() async throws {
        let h = try await Harness.make()
        // A statement written in German, with an English translation: the German page shows
        // the original, the English page the translation marked "Translated from German".
        let conversation = try await h.store.createConversation(
            ConversationSettings(slug: "dorf", title: "Dorf", question: "Wie soll die KI sein?", xidPolicy: .open),
            by: .system)
        let statement = try #require(
            try await h.store.addSeedStatements(
                conversationID: conversation.id, texts: ["Die KI soll höflich sein."], language: "de", by: .system
            ).added.first)
        try await h.test { client in
            var german = Browser(client: client)
            var page = try await german.get("/c/dorf?lang=de")
            #expect(Self.shown(page) == ["de", "Die KI soll höflich sein."])
            var english = Browser(client: client)
            page = try await english.get("/c/dorf?lang=en")
            #expect(Self.shown(page) == ["de", "Die KI soll höflich sein."])
            #expect(!page.contains(#"class="original""#))

            _ = try await h.store.setTranslation(
                statementID: statement.id, conversationID: conversation.id, language: "en",
                text: "The AI should be polite.", by: .system)
            page = try await english.get("/c/dorf")
            #expect(Self.shown(page) == ["en", "The AI should be polite."])
            #expect(page.contains(#"<p class="translated">Translated from German</p>"#))
            #expect(page.contains("<summary>Show the original</summary>"))
            #expect(Self.original(page) == ["de", "Die KI soll höflich sein."])
            page = try await german.get("/c/dorf")
            #expect(Self.shown(page) == ["de", "Die KI soll höflich sein."])
            #expect(!page.contains(#"class="translated""#))
        }
    }

    @Test func aStatementRecordsTheLanguageItWasWrittenIn() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            // On the page: the page's language.
            var browser = Browser(client: client)
            let page = try await browser.get("/c/town?lang=de")
            let written = try await browser.post(
                "/c/town/statements",
                form: [
                    ("csrf", page.csrf ?? ""), ("text", "Die KI soll zugeben, was sie nicht weiß."),
                    ("confirm", "anyway"),
                ])
            #expect(written.path.hasPrefix("/c/town?done=statement"))
            var english = Browser(client: client)
            let englishPage = try await english.get("/c/town")
            _ = try await english.post(
                "/c/town/statements",
                form: [
                    ("csrf", englishPage.csrf ?? ""), ("text", "The AI should admit mistakes openly."),
                    ("confirm", "anyway"),
                ])

            // In the API: the request's `language`, else `Accept-Language` among the pages'
            // languages, else none (the conversation's).
            let registered = try await client.json(.post, "/api/v1/conversations/town/participants", "{}")
            let token = try #require(try registered.decoded()["token"] as? String)
            let auth: HTTPFields = [.authorization: "Bearer \(token)"]
            let named = try await client.json(
                .post, "/api/v1/conversations/town/statements",
                #"{"text": "L'IA doit citer ses sources.", "language": "FR"}"#, headers: auth)
            #expect(named.status == .created)
            #expect(try named.decoded()["language"] as? String == "fr")
            var headers = auth
            headers[.acceptLanguage] = "de-CH, en;q=0.5"
            let asked = try await client.json(
                .post, "/api/v1/conversations/town/statements", #"{"text": "Die KI soll kurz antworten."}"#,
                headers: headers)
            #expect(try asked.decoded()["language"] as? String == "de")
            headers[.acceptLanguage] = "sw, ja;q=0.9"
            let unknown = try await client.json(
                .post, "/api/v1/conversations/town/statements", #"{"text": "Short answers are best."}"#,
                headers: headers)
            #expect(try unknown.decoded()["language"] as? String == "en", "the conversation's")
            let refused = try await client.json(
                .post, "/api/v1/conversations/town/statements", #"{"text": "Something else.", "language": "x y"}"#,
                headers: auth)
            #expect(refused.status == .unprocessableContent)

            let stored = try await h.store.allStatements(conversationID: h.conversation.id)
            let byText = Dictionary(uniqueKeysWithValues: stored.map { ($0.text, $0.language) })
            #expect(byText["Die KI soll zugeben, was sie nicht weiß."] == "de")
            #expect(byText["The AI should admit mistakes openly."] == "en")
            #expect(byText["L'IA doit citer ses sources."] == "fr")
            #expect(byText["Die KI soll kurz antworten."] == "de")
            #expect(byText["Short answers are best."] == .some(nil))
            #expect(byText["Something else."] == nil)
            #expect(byText["The AI should be honest."] == .some(nil), "seeds are in the conversation's language")
        }
    }

    @Test func organisersTranslateThroughTheAPI() async throws {
        let h = try await Harness.make()
        let id = h.statements[0].id
        let path = "/api/v1/conversations/town/statements/\(id)/translations"
        try await h.test { client in
            let auth = h.organiserHeaders
            // Organisers only.
            let anonymous = try await client.json(.put, "\(path)/de", #"{"text": "Die KI soll ehrlich sein."}"#)
            #expect(anonymous.status == .unauthorized)
            let listedAnonymously = try await client.json(.get, path)
            #expect(listedAnonymously.status == .unauthorized)

            let put = try await client.json(
                .put, "\(path)/DE", #"{"text": " Die KI soll ehrlich sein. "}"#, headers: auth)
            #expect(put.status == .ok)
            let body = try put.decoded()
            #expect(body["language"] as? String == "de" && body["text"] as? String == "Die KI soll ehrlich sein.")
            _ = try await client.json(.put, "\(path)/fr", #"{"text": "L'IA doit être honnête."}"#, headers: auth)
            let replaced = try await client.json(
                .put, "\(path)/de", #"{"text": "Die KI muss ehrlich sein."}"#, headers: auth)
            #expect(replaced.status == .ok)

            let list = try await client.json(.get, path, headers: auth)
            #expect(list.status == .ok)
            let listed = try list.decoded()
            #expect(listed["statement"] as? Int == Int(id) && listed["language"] as? String == "en")
            let translations = try #require(listed["translations"] as? [[String: Any]])
            #expect(translations.compactMap { $0["language"] as? String } == ["de", "fr"])
            #expect(translations.first?["text"] as? String == "Die KI muss ehrlich sein.")

            // Statements in organisers' listings carry their language and translations.
            let statements = try await client.json(.get, "/api/v1/conversations/town/statements", headers: auth)
            let items = try #require(try statements.decoded()["items"] as? [[String: Any]])
            let first = try #require(items.first { $0["id"] as? Int == Int(id) })
            #expect(first["language"] as? String == "en")
            #expect((first["translations"] as? [[String: Any]])?.count == 2)
            let other = try #require(items.first { $0["id"] as? Int == Int(h.statements[1].id) })
            #expect((other["translations"] as? [Any])?.isEmpty == true)

            // Refusals change nothing: not a language tag, the statement's own language, an
            // empty or too long text, an unknown statement, a missing text.
            for (language, body, status) in [
                ("x_y", #"{"text": "Etwas."}"#, HTTPResponse.Status.unprocessableContent),
                ("en", #"{"text": "The AI should be honest!"}"#, .unprocessableContent),
                ("de", #"{"text": "   "}"#, .unprocessableContent),
                ("de", #"{"text": "\#(String(repeating: "x", count: 141))"}"#, .unprocessableContent),
                ("de", #"{}"#, .badRequest),
            ] {
                let refused = try await client.json(.put, "\(path)/\(language)", body, headers: auth)
                #expect(refused.status == status, "\(language) \(body): \(refused.status)")
                #expect(try refused.decoded()["error"] != nil)
            }
            let unknown = try await client.json(
                .put, "/api/v1/conversations/town/statements/999999/translations/de", #"{"text": "Gibt es nicht."}"#,
                headers: auth)
            #expect(unknown.status == .notFound)
            let unknownList = try await client.json(
                .get, "/api/v1/conversations/town/statements/999999/translations", headers: auth)
            #expect(unknownList.status == .notFound)
            let stillThere = try await h.store.translations(statementID: id)
            #expect(stillThere.map(\.text) == ["Die KI muss ehrlich sein.", "L'IA doit être honnête."])

            // A statement's language; not one it has a translation into.
            let language = "/api/v1/conversations/town/statements/\(id)/language"
            let conflict = try await client.json(.put, language, #"{"language": "de"}"#, headers: auth)
            #expect(conflict.status == .conflict)
            let marked = try await client.json(.put, language, #"{"language": "es"}"#, headers: auth)
            #expect(marked.status == .ok)
            #expect(try marked.decoded()["language"] as? String == "es")
            #expect(try await h.store.statement(id: id)?.language == "es")
            let reset = try await client.json(.put, language, #"{"language": null}"#, headers: auth)
            #expect(try reset.decoded()["language"] as? String == "en")

            // Deleting: 204, then 404.
            let deleted = try await client.json(.delete, "\(path)/fr", headers: auth)
            #expect(deleted.status == .noContent)
            let again = try await client.json(.delete, "\(path)/fr", headers: auth)
            #expect(again.status == .notFound)
            #expect(try await h.store.translations(statementID: id).map(\.language) == ["de"])

            // Seeds name their language, else they are in the conversation's.
            let seeded = try await client.json(
                .post, "/api/v1/conversations/town/seeds",
                #"{"statements": ["Die KI soll Fehler eingestehen."], "language": "de"}"#, headers: auth)
            #expect(seeded.status == .created)
            let added = try #require((try seeded.decoded()["added"] as? [[String: Any]])?.first)
            #expect(added["language"] as? String == "de")
            let badSeed = try await client.json(
                .post, "/api/v1/conversations/town/seeds", #"{"statements": ["Ok."], "language": "deutsch!"}"#,
                headers: auth)
            #expect(badSeed.status == .unprocessableContent)

            // Every change is in the audit log.
            let actions = try await h.store.auditLog(statementID: id, limit: 50).map(\.action)
            #expect(actions.filter { $0 == "statement.translate" }.count == 3)
            #expect(actions.filter { $0 == "statement.language" }.count == 2)
            #expect(actions.filter { $0 == "statement.translation.delete" }.count == 1)
        }
    }

    @Test func theMarkdownExportListsTranslationsWithoutChangingTheHash() async throws {
        let h = try await Harness.make()
        try await AnalysisHTTPTests.vote(h)
        try await h.test { client in
            let auth = h.organiserHeaders
            let published = try await client.json(
                .post, "/api/v1/conversations/town/constitutions", "{}", headers: auth)
            #expect(published.status == .created)
            let id = try #require(try published.decoded()["id"] as? Int)
            let sha = try #require(try published.decoded()["sha256"] as? String)
            let before = try await client.json(.get, "/api/v1/constitutions/\(id)?format=md", headers: auth)
            #expect(!before.text.contains("- de:"))

            let lead = h.statements[0].id
            let put = try await client.json(
                .put, "/api/v1/conversations/town/statements/\(lead)/translations/de",
                #"{"text": "Die KI soll ehrlich sein."}"#, headers: auth)
            #expect(put.status == .ok)
            let after = try await client.json(.get, "/api/v1/constitutions/\(id)?format=md", headers: auth)
            #expect(after.status == .ok)
            #expect(after.text.contains("1. Choose the response that is honest.\n   - de: Die KI soll ehrlich sein.\n"))
            #expect(after.text.contains("sha256 `\(sha)`"))
            // The hashed document holds no translation: the same votes publish nothing new.
            let json = try await client.json(.get, "/api/v1/constitutions/\(id)?format=json", headers: auth)
            #expect(!json.text.contains("Die KI"))
            #expect(try Constitution.decode(Data(json.text.utf8)).hashed().sha256 == sha)
            let again = try await client.json(.post, "/api/v1/conversations/town/constitutions", "{}", headers: auth)
            #expect(again.status == .ok)
            #expect(try again.decoded()["unchanged"] as? Bool == true)
            #expect(try again.decoded()["sha256"] as? String == sha)
            // The other formats are unchanged.
            let txt = try await client.json(.get, "/api/v1/constitutions/\(id)?format=txt", headers: auth)
            #expect(!txt.text.contains("Die KI"))
        }
    }

    @Test func anOrganiserTranslatesOnTheStatementPage() async throws {
        let h = try await Harness.make()
        let id = h.statements[1].id
        let base = "/admin/conversations/town/statements/\(id)"
        try await h.test { client in
            var browser = Browser(client: client)
            try await AdminSession.signIn(&browser)
            var page = try await browser.get(base)
            #expect(page.status == .ok)
            #expect(page.contains("<dt>Language</dt><dd>en (the conversation's)</dd>"))
            let csrf = try #require(page.csrf)

            page = try await browser.post(
                "\(base)/translations",
                form: [("csrf", csrf), ("language", "de"), ("text", "Die KI soll <freundlich> sein.")])
            #expect(page.redirects == [.seeOther] && page.path == "\(base)?done=translated")
            #expect(page.contains("The translation was saved."))
            #expect(page.contains(#"<td lang="de">Die KI soll &lt;freundlich&gt; sein.</td>"#))

            // A refusal keeps what was typed and says why.
            page = try await browser.post(
                "\(base)/translations", form: [("csrf", csrf), ("language", "en"), ("text", "Be kind.")])
            #expect(page.status == .unprocessableContent)
            #expect(page.contains("a translation must be into another language"))
            #expect(
                page.contains(
                    #"<textarea id="translation-text" name="text" rows="3" required maxlength="140">Be kind.</textarea>"#
                ))
            // Without the form's token nothing changes.
            let forged = try await browser.post(
                "\(base)/translations", form: [("csrf", "forged"), ("language", "fr"), ("text", "Sois gentille.")])
            #expect(forged.status == .forbidden)

            page = try await browser.post("\(base)/language", form: [("csrf", csrf), ("language", "EN-gb")])
            #expect(page.path == "\(base)?done=language")
            #expect(page.contains("<dt>Language</dt><dd>en-gb</dd>"))
            page = try await browser.post("\(base)/language", form: [("csrf", csrf), ("language", "de")])
            #expect(page.status == .conflict)

            page = try await browser.post("\(base)/translations/delete", form: [("csrf", csrf), ("language", "de")])
            #expect(page.path == "\(base)?done=deleted")
            #expect(try await h.store.translations(statementID: id).isEmpty)
            #expect(try await h.store.statement(id: id)?.language == "en-gb")
            let history = try await h.store.auditLog(statementID: id, limit: 20).map(\.action)
            #expect(history.prefix(3) == ["statement.translation.delete", "statement.language", "statement.translate"])
        }
    }
}
