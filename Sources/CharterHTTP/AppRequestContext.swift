import CharterDomain
public import Hummingbird
import NIOCore

public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The client's IP address, the key for per-IP rate limits: the peer's, or behind a trusted
    /// proxy the one it forwards (`ClientAddressMiddleware`).
    public internal(set) var remoteIP: String
    /// Set by the organiser authentication middleware.
    var organiser: Organiser?
    /// The raw organiser session token, when authenticated by cookie (binds the CSRF token).
    var organiserSessionToken: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteIP = source.channel.remoteAddress?.ipAddress ?? "unknown"
        organiser = nil
        organiserSessionToken = nil
    }

    /// The authenticated organiser; routes behind the auth middleware can rely on it.
    func requireOrganiser() throws -> Organiser {
        guard let organiser else { throw AppError.unauthorized }
        return organiser
    }
}
