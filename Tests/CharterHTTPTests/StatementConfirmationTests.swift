import CharterCompiler
import CharterDomain
import CharterStore
import CharterTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CharterHTTP

/// Before a participant's statement is stored, the ones much like it are shown to vote on.
@Suite struct StatementConfirmationTests {
    @Test func lookAlikesIgnoreCaseAndPunctuationAndPutIdenticalOnesFirst() {
        let others: [(id: Int64, text: String)] = [
            (1, "The AI should be honest."), (2, "The AI should be kind."), (3, "Cats are wonderful."),
        ]
        let identical = SimilarStatements.lookAlikes(of: "the ai should be HONEST!!", among: others)
        #expect(identical.first == .init(id: 1, similarity: 1, identical: true))
        #expect(SimilarStatements.lookAlikes(of: "Bicycles need better lanes downtown", among: others).isEmpty)
        #expect(SimilarStatements.lookAlikes(of: "", among: others).allSatisfy { !$0.identical })
    }

    @Test func aVariantOfAStatementIsShownInsteadOfStoredAndAnywayStoresASimilarOne() async throws {
        let h = try await Harness.make()
        try await h.test { client in
            var browser = Browser(client: client)
            var page = try await browser.get("/c/town")
            let before = try await h.store.visibleStatements(conversationID: h.conversation.id).count

            // The same words in another case and punctuation: shown, not stored, no "anyway".
            page = try await browser.post(
                "/c/town/statements", form: [("csrf", page.csrf ?? ""), ("text", "the AI should be HONEST!!")])
            #expect(page.status == .ok)
            #expect(page.contains("Is your statement already here?"))
            #expect(page.contains("in the same words"))
            #expect(page.contains("The AI should be honest."))
            #expect(!page.contains(#"value="anyway""#))
            #expect(page.contains(#"<textarea id="statement-input" name="text""#))
            #expect(page.contains("the AI should be HONEST!!</textarea>"))
            let honest = try #require(h.statements.first { $0.text == "The AI should be honest." })
            #expect(page.contains(#"<input type="hidden" name="statement" value="\#(honest.id)">"#))
            // "Anyway" does not get an identical one through either.
            page = try await browser.post(
                "/c/town/statements",
                form: [("csrf", page.csrf ?? ""), ("text", "The AI should be honest"), ("confirm", "anyway")])
            #expect(page.contains("in the same words"))
            var count = try await h.store.visibleStatements(conversationID: h.conversation.id).count
            #expect(count == before)

            // A similar statement in other words: shown first, stored when the participant insists.
            let candidates = [
                "The AI should be honest always.", "The AI should be very honest.", "The AI should be honest, truly.",
                "The AI should really be honest with us.", "An honest AI should be the aim.",
            ]
            let seeds = h.statements.map { (id: $0.id, text: $0.text) }
            let similar = try #require(
                candidates.first { text in
                    let found = SimilarStatements.lookAlikes(of: text, among: seeds)
                    return !found.isEmpty && !found.contains { $0.identical }
                })
            page = try await browser.post("/c/town/statements", form: [("csrf", page.csrf ?? ""), ("text", similar)])
            #expect(page.contains(#"value="anyway""#))
            count = try await h.store.visibleStatements(conversationID: h.conversation.id).count
            #expect(count == before)
            page = try await browser.post(
                "/c/town/statements", form: [("csrf", page.csrf ?? ""), ("text", similar), ("confirm", "anyway")])
            #expect(page.path == "/c/town?done=statement")
            let stored = try await h.store.visibleStatements(conversationID: h.conversation.id)
            #expect(stored.count == before + 1 && stored.contains { $0.text == similar })

            // Voting on a look-alike instead counts for it; the page then says it was voted on.
            page = try await browser.post(
                "/c/town/statements", form: [("csrf", page.csrf ?? ""), ("text", "the ai should be kind")])
            let kind = try #require(h.statements.first { $0.text == "The AI should be kind." })
            page = try await browser.post(
                "/c/town/vote", form: [("csrf", page.csrf ?? ""), ("statement", String(kind.id)), ("vote", "agree")])
            #expect(page.path == "/c/town?done=vote")
            page = try await browser.post(
                "/c/town/statements", form: [("csrf", page.csrf ?? ""), ("text", "the ai should be kind")])
            #expect(page.contains("You have voted on this one."))

            // Nothing alike: stored at once.
            page = try await browser.post(
                "/c/town/statements",
                form: [("csrf", page.csrf ?? ""), ("text", "Bicycles need better lanes downtown")])
            #expect(page.path == "/c/town?done=statement")
        }
    }

    @Test func theConfirmationIsInTheParticipantsLanguageAndCostsNoRateLimit() async throws {
        let h = try await Harness.make({ $0.rateLimits.statementsPerParticipant = RateLimit(rate: 0.001, burst: 1) })
        try await h.test { client in
            var browser = Browser(client: client)
            var page = try await browser.get("/c/town?lang=de")
            let german = try #require(h.configurationCatalogue().language("de"))
            for _ in 0..<3 {
                page = try await browser.post(
                    "/c/town/statements", form: [("csrf", page.csrf ?? ""), ("text", "The AI should be kind!")])
                #expect(page.status == .ok)
                #expect(page.contains(german.text("confirm_title")))
                #expect(page.contains(#"<html lang="de" dir="ltr">"#))
            }
            page = try await browser.post(
                "/c/town/statements", form: [("csrf", page.csrf ?? ""), ("text", "Bicycles need better lanes")])
            #expect(page.path == "/c/town?done=statement")
        }
    }
}

extension StatementConfirmationTests {
    @Test func aLookAlikeIsShownInTheParticipantsLanguageWhenTranslated() async throws {
        let h = try await Harness.make()
        let kind = try #require(h.statements.first { $0.text == "The AI should be kind." })
        _ = try await h.store.setTranslation(
            statementID: kind.id, conversationID: h.conversation.id, language: "de",
            text: "Die KI soll freundlich sein.",
            by: .system)
        try await h.test { client in
            var browser = Browser(client: client)
            var page = try await browser.get("/c/town?lang=de")
            page = try await browser.post(
                "/c/town/statements", form: [("csrf", page.csrf ?? ""), ("text", "the AI should be KIND")])
            #expect(page.contains(#"lang="de" dir="auto">Die KI soll freundlich sein.</blockquote>"#))
            page = try await browser.get("/c/town?lang=en")
            page = try await browser.post(
                "/c/town/statements", form: [("csrf", page.csrf ?? ""), ("text", "the AI should be KIND")])
            #expect(page.contains(#"lang="en" dir="auto">The AI should be kind.</blockquote>"#))
        }
    }
}

extension Harness {
    func configurationCatalogue() throws -> Catalogue {
        try Catalogue.load(directory: LanguageTests.catalogueFolder)
    }
}
