import CharterDomain
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird

// The statement page's forms: the language a statement is written in, and its translations.
// Each answers with a redirect back to the page, or the page again with the refusal and what
// was typed.
extension StatementPages {
    @Sendable func setLanguage(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let form = try await context.submittedForm(request, reader: services.body)
        let statement = try await statement(context)
        let language = form["language"] ?? ""
        do {
            _ = try await services.store.setStatementLanguage(
                id: statement.id, conversationID: context.conversation.id,
                language: language.trimmingCharacters(in: .whitespaces).isEmpty ? nil : language,
                by: Actor(context.organiser))
        } catch let error as CharterError {
            return try await render(context, statement: statement, error: AppError(error))
        }
        return redirect(context, statement, done: "language")
    }

    @Sendable func setTranslation(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let form = try await context.submittedForm(request, reader: services.body)
        let statement = try await statement(context)
        let language = try form.required("language")
        let text = try form.required("text")
        do {
            _ = try await services.store.setTranslation(
                statementID: statement.id, conversationID: context.conversation.id, language: language, text: text,
                by: Actor(context.organiser))
        } catch let error as CharterError {
            return try await render(
                context, statement: statement, error: AppError(error), draftLanguage: language, draftText: text)
        }
        return redirect(context, statement, done: "translated")
    }

    @Sendable func deleteTranslation(_ request: Request, context: AdminConversationContext) async throws -> Response {
        let form = try await context.submittedForm(request, reader: services.body)
        let statement = try await statement(context)
        let language = try form.required("language")
        let deleted: Bool
        do {
            deleted = try await services.store.deleteTranslation(
                statementID: statement.id, conversationID: context.conversation.id, language: language,
                by: Actor(context.organiser))
        } catch let error as CharterError {
            return try await render(context, statement: statement, error: AppError(error))
        }
        return redirect(context, statement, done: deleted ? "deleted" : "unchanged")
    }

    private func redirect(_ context: AdminConversationContext, _ statement: Statement, done: String) -> Response {
        .seeOther(
            "/admin/conversations/\(context.conversation.slug)/statements/\(statement.id)?done=\(done)#translations")
    }
}
