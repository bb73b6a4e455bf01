import CharterDomain
import CharterStore
import Foundation
import HTTPTypes
import Hummingbird

/// Recognises an organiser by the session cookie of the admin pages or by an API token
/// (`Authorization: Bearer co_…`). It only identifies; the route groups that need an organiser
/// turn the context into one that has it (`OrganiserContext`, `AdminContext`). A token that is present but wrong is refused at once, so a
/// misconfigured client learns why instead of being treated as anonymous.
struct OrganiserAuthenticator: RouterMiddleware {
    typealias Context = AppRequestContext
    static let sessionCookie = "charter_admin"
    static let tokenPrefix = "co_"
    let services: AppServices

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var context = context
        if let token = request.bearerToken, token.hasPrefix(Self.tokenPrefix) {
            guard let organiser = try await services.store.organiser(apiTokenHash: SecureToken.digest(token)) else {
                throw AppError.unauthorized
            }
            context.organiser = organiser
        } else if request.uri.path.hasPrefix("/admin"), let cookie = request.cookies[Self.sessionCookie],
            let organiser = try await services.store.organiser(
                sessionHash: SecureToken.digest(cookie.value), at: Date())
        {
            context.organiser = organiser
            context.adminSession = AdminSession(token: cookie.value, csrf: services.adminCSRF(session: cookie.value))
        }
        return try await next(request, context)
    }
}

extension Request {
    /// Read on every API request, so without splitting or lowercasing the header.
    var bearerToken: String? {
        guard let header = headers[.authorization] else { return nil }
        let scheme = "bearer ".utf8
        let bytes = header.utf8
        guard bytes.count > scheme.count,
            zip(bytes, scheme).allSatisfy({ given, expected in
                expected == UInt8(ascii: " ") ? given == expected : given | 0x20 == expected
            })
        else { return nil }
        let token = header.utf8.dropFirst(scheme.count)
        return String(Substring(token).trimmedOfSpacesAndTabs)
    }
}
