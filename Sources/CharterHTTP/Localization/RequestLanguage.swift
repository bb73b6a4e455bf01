import CharterDomain
import HTTPTypes
import Hummingbird

extension Catalogue {
    /// The language a participant's request is answered in (see `negotiate`).
    func language(for request: Request, conversationDefault: String?) -> Language {
        negotiate(
            query: request.uri.queryParameters["lang"].map(String.init),
            cookie: request.cookies[Catalogue.cookieName]?.value,
            acceptLanguage: request.headers[.acceptLanguage], conversationDefault: conversationDefault)
    }
}

extension AppServices {
    func language(_ request: Request, conversation: Conversation?) -> Language {
        views.catalogue.language(for: request, conversationDefault: conversation?.settings.language)
    }

    /// A language chosen with the switch (`?lang=`) is kept in a cookie, so the pages that
    /// follow (after a vote's redirect) stay in it.
    func rememberLanguage(_ request: Request, _ language: Language, in response: inout Response) {
        guard let asked = request.uri.queryParameters["lang"], views.catalogue.language(String(asked)) == language,
            request.cookies[Catalogue.cookieName]?.value != language.code
        else { return }
        response.setCookie(
            Cookie(
                name: Catalogue.cookieName, value: language.code, maxAge: 365 * 24 * 3600, path: "/",
                secure: configuration.secureCookies, httpOnly: true, sameSite: .lax))
    }
}
