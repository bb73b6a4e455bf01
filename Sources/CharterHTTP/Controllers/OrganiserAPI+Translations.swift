import CharterDomain
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird

// A statement's language and organisers' translations of it, for the conversation's moderators.
extension OrganiserAPI {
    /// The statement the route's `{statement}` names in the route's conversation, or 404 (also
    /// for what is not a statement id at all).
    private func statement(_ context: ConversationContext) async throws -> Statement {
        guard let id = Int64(try context.parameters.require("statement")), id > 0 else {
            throw CharterError.notFound("Statement")
        }
        guard let statement = try await services.store.statement(id: id),
            statement.conversationID == context.conversation.id
        else { throw CharterError.notFound("Statement") }
        return statement
    }

    @Sendable func translations(_ request: Request, context: ConversationContext) async throws -> Response {
        let statement = try await statement(context)
        let translations = try await services.store.translations(statementID: statement.id)
        return Response.json(
            API.StatementTranslationsBody(
                statement: statement.id, language: statement.language(in: context.conversation),
                translations: translations.map(API.TranslationBody.init)))
    }

    @Sendable func setTranslation(_ request: Request, context: ConversationContext) async throws -> Response {
        let id = try await statement(context).id
        let language = try APILanguage.validated(try context.parameters.require("language"))
        let body = try await services.body.json(API.TranslationRequest.self, from: request)
        let translation = try await services.store.setTranslation(
            statementID: id, conversationID: context.conversation.id, language: language, text: body.text,
            by: Actor(context.organiser))
        return Response.json(API.TranslationBody(translation))
    }

    @Sendable func deleteTranslation(_ request: Request, context: ConversationContext) async throws -> Response {
        let id = try await statement(context).id
        let language = try APILanguage.validated(try context.parameters.require("language"))
        guard
            try await services.store.deleteTranslation(
                statementID: id, conversationID: context.conversation.id, language: language,
                by: Actor(context.organiser))
        else { throw CharterError.notFound("Translation") }
        return Response(status: .noContent)
    }

    @Sendable func setStatementLanguage(_ request: Request, context: ConversationContext) async throws -> Response {
        let id = try await statement(context).id
        let body = try await services.body.json(API.StatementLanguageRequest.self, from: request)
        let language = try body.language.map { try APILanguage.validated($0) }
        let conversation = context.conversation
        let statement = try await services.store.setStatementLanguage(
            id: id, conversationID: conversation.id, language: language, by: Actor(context.organiser))
        let translations = try await services.store.translations(statementID: id)
        return Response.json(API.StatementFull(statement, in: conversation, translations: translations))
    }
}

/// A language tag as the API takes it, exactly as its document's pattern says: ASCII letters,
/// digits and hyphens in `LanguageCode`'s shape, in either case, nothing around it.
enum APILanguage {
    static func validated(_ raw: String, field: String = "language") throws(CharterError) -> String {
        guard raw.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw .invalid(
                field: field,
                message: "\(field) must be a language tag such as en, de, pt-br or ar, not “\(raw.prefix(40))”")
        }
        return try LanguageCode.validated(raw, field: field)
    }
}
