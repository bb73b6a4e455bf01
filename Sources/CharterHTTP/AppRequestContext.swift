import CharterDomain
public import Hummingbird
import NIOCore

/// The context every request starts with. Organiser routes do not read its optional
/// organiser: their route group turns it into an `OrganiserContext` or `AdminContext`, whose
/// organiser (and role, and CSRF token) are not optional.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The client's IP address, the key for per-IP rate limits: the peer's, or behind a trusted
    /// proxy the one it forwards (`ClientAddressMiddleware`).
    public internal(set) var remoteIP: String
    /// Set by `OrganiserAuthenticator` when a token or session names an organiser.
    var organiser: Organiser?
    /// Set with `organiser` when they signed in to the admin pages with a session cookie.
    var adminSession: AdminSession?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteIP = source.channel.remoteAddress?.ipAddress ?? "unknown"
        organiser = nil
        adminSession = nil
    }
}

/// An organiser's admin-page session: the raw cookie value (to sign out) and the CSRF token
/// bound to it, which every admin form must carry.
struct AdminSession: Sendable {
    let token: String
    let csrf: String
}
