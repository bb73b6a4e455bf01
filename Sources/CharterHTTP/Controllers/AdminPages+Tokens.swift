import CharterDomain
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird

// An organiser's API tokens: the JSON API under /api/v1 takes `Authorization: Bearer co_…`,
// not the admin pages' session, so a signed-in organiser makes their token here.
extension AdminPages {
    struct TokensView: PageTemplate {
        static let template = "admin_tokens"
        let organiserEmail, csrf: String
        let token: String?
        let label: String
        let error: String?
    }

    @Sendable func tokensPage(_ request: Request, context: AdminContext) async throws -> Response {
        services.views.page(
            title: "API tokens",
            TokensView(organiserEmail: context.organiser.email, csrf: context.csrf, token: nil, label: "", error: nil),
            admin: true)
    }

    /// Makes a token and shows it once, in this answer only: it is not kept anywhere readable
    /// (the store holds its hash) and the page is not cached.
    @Sendable func createToken(_ request: Request, context: AdminContext) async throws -> Response {
        let form = try await context.submittedForm(request, reader: services.body)
        let label = (form["label"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !label.isEmpty, label.count <= 100, !ControlCharacters.present(in: label) else {
            return services.views.page(
                title: "API tokens",
                TokensView(
                    organiserEmail: context.organiser.email, csrf: context.csrf, token: nil, label: label,
                    error: "Say what the token is for in 1 to 100 characters (a script's name, say)."),
                status: .unprocessableContent, admin: true)
        }
        let token = SecureToken.make(prefix: OrganiserAuthenticator.tokenPrefix)
        try await services.store.storeAPIToken(
            organiserID: context.organiser.id, tokenHash: SecureToken.digest(token), label: label)
        var response = services.views.page(
            title: "API tokens",
            TokensView(
                organiserEmail: context.organiser.email, csrf: context.csrf, token: token, label: label, error: nil),
            admin: true)
        response.headers[.cacheControl] = "no-store"
        return response
    }
}
