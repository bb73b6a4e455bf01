import CharterDomain
import CharterInput
import CharterStore
import CharterTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CharterHTTP

@Suite struct LanguageTests {
    static let catalogueFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources/CharterHTTP/Catalogues").standardizedFileURL

    static func placeholders(_ text: String) -> Set<String> {
        guard let regex = try? NSRegularExpression(pattern: #"\{([a-z_]+)\}"#) else { return [] }
        return Set(
            regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap {
                Range($0.range(at: 1), in: text).map { String(text[$0]) }
            })
    }

    @Test func acceptLanguageIsReadByQualityAndPrimaryTag() {
        let available: Set<String> = ["en", "de", "fr", "pt", "ar"]
        #expect(AcceptLanguage.best("de-CH, fr;q=0.9, *;q=0.1", available: available) == "de")
        #expect(AcceptLanguage.best("pt-BR,pt;q=0.8,en-US;q=0.5", available: available) == "pt")
        #expect(AcceptLanguage.best("en;q=0, fr", available: available) == "fr")
        #expect(AcceptLanguage.best("fr;q=0.2, de;q=0.7", available: available) == "de")
        #expect(AcceptLanguage.best("sw, ja;q=0.9", available: available) == nil)
        #expect(AcceptLanguage.best("*", available: available) == nil)
        // Malformed parts are skipped, never fatal.
        for header in [";;;", "de;q=abc, fr", ",,,", "q=1", "de;q=1.5, ar", String(repeating: "x-", count: 5000)] {
            _ = AcceptLanguage.best(header, available: available)
        }
        #expect(AcceptLanguage.best("de;q=abc, fr", available: available) == "fr")
        #expect(AcceptLanguage.ranges("de;q=0.5, fr").map(\.tag) == ["fr", "de"])
    }

    @Test func languageTagsAreCheckedAndLowerCased() throws {
        #expect(try LanguageCode.validated(" PT-BR ", field: "language") == "pt-br")
        for bad in ["", "e", "english", "en_US", "de-", "<b>", "zz-toolongsubtag"] {
            #expect(throws: CharterError.self) { try LanguageCode.validated(bad, field: "language") }
        }
    }

    /// A translator adds a language by adding a file; each must say every English text, with
    /// the same placeholders, and nothing English lacks.
    @Test func everyCatalogueHasEveryTextWithTheSamePlaceholders() throws {
        let files = try FileManager.default.contentsOfDirectory(
            at: Self.catalogueFolder, includingPropertiesForKeys: nil
        )
        .filter { $0.pathExtension == "json" }
        let english = try JSONDecoder().decode(
            [String: String].self, from: Data(contentsOf: Self.catalogueFolder.appendingPathComponent("en.json")))
        #expect(files.count >= 6, "English plus German, French, Spanish, Portuguese and Arabic")
        for file in files {
            let code = file.deletingPathExtension().lastPathComponent
            #expect(LanguageCode.isValid(code), "\(code) is not a language tag")
            let texts = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: file))
            let missing = Set(english.keys).subtracting(texts.keys).sorted()
            let extra = Set(texts.keys).subtracting(english.keys).sorted()
            #expect(missing.isEmpty, "\(code) lacks \(missing)")
            #expect(extra.isEmpty, "\(code) has texts English lacks: \(extra)")
            #expect(["ltr", "rtl"].contains(texts["language_direction"] ?? ""))
            #expect(!(texts["language_name"] ?? "").isEmpty)
            for (key, text) in texts {
                guard let source = english[key] else { continue }
                #expect(Self.placeholders(text) == Self.placeholders(source), "\(code).\(key) placeholders")
                #expect(!text.trimmingCharacters(in: .whitespaces).isEmpty, "\(code).\(key) is empty")
            }
        }
        let catalogue = try Catalogue.load(directory: Self.catalogueFolder)
        #expect(catalogue.language("ar")?.rightToLeft == true)
        #expect(catalogue.language("de")?.rightToLeft == false)
    }

    @Test func aBrokenCatalogueStopsTheStartInsteadOfReachingParticipants() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("catalogue-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data(#"{"language_name": "English", "x": 3}"#.utf8).write(to: folder.appendingPathComponent("en.json"))
        #expect(throws: CatalogueError.self) { try Catalogue.load(directory: folder) }
    }

    @Test func theLanguageComesFromTheQueryThenTheCookieThenTheBrowserThenTheConversation() async throws {
        let h = try await Harness.make(conversation: { $0.language = "es" })
        try await h.test { client in
            // The conversation's own language when the browser asks for none Charter has.
            var browser = Browser(client: client)
            var page = try await browser.get("/c/town")
            #expect(page.contains(#"<html lang="es" dir="ltr">"#))
            #expect(page.contains(#"<option value="es" lang="es" selected>"#))

            // Accept-Language beats the conversation's language.
            browser = Browser(client: client)
            browser.headers[.acceptLanguage] = "fr-CA, fr;q=0.9, en;q=0.5"
            page = try await browser.get("/c/town")
            #expect(page.contains(#"<html lang="fr" dir="ltr">"#))

            // The switch (?lang=) beats the browser, and is kept in a cookie for the pages after.
            page = try await browser.get("/c/town?lang=de")
            #expect(page.contains(#"<html lang="de" dir="ltr">"#))
            let cookie = try #require(page.headers[values: .setCookie].first { $0.hasPrefix("charter_lang=de") })
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"))
            let id = try #require(page.input("statement"))
            page = try await browser.post(
                "/c/town/vote", form: [("csrf", page.csrf ?? ""), ("statement", id), ("vote", "agree")])
            #expect(page.contains(#"<html lang="de" dir="ltr">"#))
            let german = try #require(Catalogue.load(directory: Self.catalogueFolder).language("de"))
            #expect(page.contains(german.text("notice_vote")))
            #expect(page.contains(german.text("vote_disagree")))
            #expect(!page.contains(">Disagree<"))

            // Arabic is laid out right to left; an unknown code changes nothing.
            page = try await browser.get("/c/town?lang=ar")
            #expect(page.contains(#"<html lang="ar" dir="rtl">"#))
            page = try await browser.get("/c/town?lang=xx")
            #expect(page.contains(#"<html lang="ar" dir="rtl">"#))
            #expect(page.headers[values: .setCookie].allSatisfy { !$0.hasPrefix("charter_lang=") })
        }
    }

    @Test func theSwitchKeepsAPanelParticipantsLinkAndErrorsSpeakTheirLanguage() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            var page = try await browser.get("/c/town?xid=panel-7&lang=fr")
            #expect(page.contains(#"<form method="get" action="/c/town" class="language-switch">"#))
            #expect(page.contains(#"<input type="hidden" name="xid" value="panel-7">"#))
            let french = try #require(Catalogue.load(directory: Self.catalogueFolder).language("fr"))

            // A refused statement comes back in the page's language, with the text kept.
            let long = String(repeating: "é", count: 141)
            page = try await browser.post(
                "/c/town/statements",
                form: [("csrf", page.csrf ?? ""), ("xid", "panel-7"), ("text", long)])
            #expect(page.status == .unprocessableContent)
            #expect(page.contains(french.text("error_statement_too_long", ["length": "141", "limit": "140"])))
            #expect(page.contains(long))

            // An error page of a conversation's address is in the language, and leads back to it.
            page = try await browser.get("/c/nowhere?lang=fr")
            #expect(page.status == .notFound)
            #expect(page.contains(#"<html lang="fr" dir="ltr">"#))
            #expect(page.contains(french.text("error_not_found")))
            #expect(page.contains(#"<a href="/c/nowhere">\#(french.text("error_back"))</a>"#))
        }
    }

    @Test func theConversationLanguageIsASettingOfTheAPI() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            let auth: HTTPFields = [.authorization: "Bearer \(h.organiserToken)", .contentType: "application/json"]
            let bad = try await client.executeRequest(
                uri: "/api/v1/conversations/town", method: .patch, headers: auth,
                body: ByteBuffer(string: #"{"language": "Deutsch"}"#))
            #expect(bad.status == .unprocessableContent)
            let good = try await client.executeRequest(
                uri: "/api/v1/conversations/town", method: .patch, headers: auth,
                body: ByteBuffer(string: #"{"language": "PT-BR", "results_public": true}"#))
            #expect(good.status == .ok)
            let body = String(buffer: good.body)
            #expect(body.contains(#""language":"pt-br""#) && body.contains(#""results_public":true"#))
            let stored = try await h.store.conversation(slug: "town")
            #expect(stored?.settings.language == "pt-br")
            #expect(stored?.settings.resultsPublic == true)
        }
    }
}
