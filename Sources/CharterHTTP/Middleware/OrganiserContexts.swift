import CharterDomain
import Hummingbird

/// What the route's conversation is and the role the organiser holds on it, found by
/// `ConversationRoleMiddleware` before the context that carries it is made.
struct ConversationGrant: Sendable {
    let conversation: Conversation
    let role: ConversationRole
}

/// A request from a signed-in organiser, in either of the organiser route groups.
protocol OrganiserRequestContext: RequestContext {
    var organiser: Organiser { get }
    var remoteIP: String { get }
    /// Set by `ConversationRoleMiddleware`; read only to make a conversation context.
    var grant: ConversationGrant? { get set }
}

/// An admin page's request: an organiser with a session, and the CSRF token of that session.
protocol AdminRequestContext: OrganiserRequestContext {
    var session: AdminSession { get }
}

extension AdminRequestContext {
    var csrf: String { session.csrf }

    /// The form an admin page posted, once its CSRF token is the session's.
    func submittedForm(_ request: Request, reader: RequestBodyReader) async throws -> Form {
        let form = try await reader.form(request)
        try checkCSRF(form["csrf"])
        return form
    }

    /// The one CSRF check of the admin forms: the token must belong to the session.
    func checkCSRF(_ given: String?) throws {
        guard let given, ConstantTime.equal(Array(given.utf8), Array(session.csrf.utf8)) else {
            throw AppError.badCSRF
        }
    }
}

/// `/api/v1` routes for organisers: an API token named one, or the request gets 401.
struct OrganiserContext: ChildRequestContext, OrganiserRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteIP: String
    let organiser: Organiser
    var grant: ConversationGrant?

    init(context: AppRequestContext) throws {
        guard let organiser = context.organiser else { throw AppError.tokenRequired }
        coreContext = context.coreContext
        remoteIP = context.remoteIP
        self.organiser = organiser
        grant = nil
    }
}

/// `/admin` pages: an organiser signed in with a session cookie; anyone else is sent to the
/// sign-in page (`AppError.signIn`).
struct AdminContext: ChildRequestContext, AdminRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteIP: String
    let organiser: Organiser
    let session: AdminSession
    var grant: ConversationGrant?

    init(context: AppRequestContext) throws {
        guard let organiser = context.organiser, let session = context.adminSession else { throw AppError.signIn }
        coreContext = context.coreContext
        remoteIP = context.remoteIP
        self.organiser = organiser
        self.session = session
        grant = nil
    }
}

/// An organiser API request on one conversation, with the role the route needs or more.
struct ConversationContext: ChildRequestContext {
    var coreContext: CoreRequestContextStorage
    let organiser: Organiser
    let conversation: Conversation
    let role: ConversationRole

    init(context: OrganiserContext) throws {
        guard let grant = context.grant else { throw AppError.missingGrant }
        coreContext = context.coreContext
        organiser = context.organiser
        conversation = grant.conversation
        role = grant.role
    }
}

/// An admin page on one conversation, with the role the route needs or more.
struct AdminConversationContext: ChildRequestContext, AdminRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteIP: String
    let organiser: Organiser
    let session: AdminSession
    let conversation: Conversation
    let role: ConversationRole
    var grant: ConversationGrant?

    init(context: AdminContext) throws {
        guard let grant = context.grant else { throw AppError.missingGrant }
        coreContext = context.coreContext
        remoteIP = context.remoteIP
        organiser = context.organiser
        session = context.session
        conversation = grant.conversation
        role = grant.role
        self.grant = grant
    }
}

extension AppError {
    /// A conversation route was added outside a `ConversationRoleMiddleware` group: a
    /// programming error, answered 500 rather than served without its check.
    static let missingGrant = AppError(
        .internalServerError, code: "internal", message: "This route has no access rule.")
}
