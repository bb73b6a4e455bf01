import CharterDomain
public import HTTPTypes
import Hummingbird

/// A failed request that is the client's doing, with the status and message it gets.
public struct AppError: Error, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var headers: HTTPFields = [:]
    /// The values a participant page's translated message fills in (`count`, `field`).
    public var textValues: [String: String] = [:]

    public init(
        _ status: HTTPResponse.Status, code: String, message: String, headers: HTTPFields = [:],
        textValues: [String: String] = [:]
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.textValues = textValues
    }

    /// An API token that names no organiser.
    static let unauthorized = AppError(
        .unauthorized, code: "unauthorized",
        message:
            "That API token is not valid. Send Authorization: Bearer co_… with a token made on /admin/tokens "
            + "(or by `charter admin create-token`).")
    /// An organiser's API request without a token. A browser signed in to the admin pages sends
    /// its session only to /admin, so the answer says what the API wants instead.
    static let tokenRequired = AppError(
        .unauthorized, code: "unauthorized",
        message:
            "The API wants an organiser's token: send Authorization: Bearer co_…. Signing in to the admin pages "
            + "does not sign in the API; create a token on the admin page /admin/tokens (or with "
            + "`charter admin create-token`).")
    /// An admin page or form without a signed-in session: a page view is sent to the sign-in
    /// page (by the error middleware), a form post gets 401.
    static let signIn = AppError(.unauthorized, code: "sign_in", message: "Sign in as an organiser first.")
    static let badCSRF = AppError(
        .forbidden, code: "csrf",
        message:
            "The form has expired or did not come from this site. Reload the page and try again (cookies must be on).")

    static func badRequest(_ message: String) -> AppError {
        AppError(.badRequest, code: "bad_request", message: message)
    }

    static func tooLarge(limit: Int) -> AppError {
        AppError(.contentTooLarge, code: "body_too_large", message: "The request body is larger than \(limit) bytes.")
    }

    static func rateLimited(retryAfter seconds: Int) -> AppError {
        AppError(
            .tooManyRequests, code: "rate_limited",
            message: "Too many requests; try again in \(seconds) second\(seconds == 1 ? "" : "s").",
            headers: [.retryAfter: String(seconds)], textValues: ["count": String(seconds)])
    }

    init(_ error: CharterError) {
        let status: HTTPResponse.Status =
            switch error {
            case .invalid: .unprocessableContent
            case .notFound: .notFound
            case .duplicateStatement, .duplicateVote, .voteNotChangeable, .conversationClosed, .conflict,
                .constitutionUnchanged:
                .conflict
            case .statementNotVotable: .unprocessableContent
            case .statementsNotAllowed, .notEnoughVotesToSubmit: .forbidden
            }
        var values: [String: String] = [:]
        switch error {
        case .invalid(let field, _): values["field"] = field
        case .notEnoughVotesToSubmit(let needed): values["count"] = String(needed)
        default: break
        }
        self.init(status, code: error.code, message: error.message, textValues: values)
    }
}
