public import CharterInput
public import Foundation

/// A token bucket's shape: `rate` requests a second on average, bursts of up to `burst`.
public struct RateLimit: Sendable, Equatable {
    public var rate: Double
    public var burst: Double

    public init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = burst
    }

    /// Parses "rate/burst", e.g. "5/20".
    public init?(_ text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let rate = Double(parts[0]), let burst = Double(parts[1]), rate > 0, burst >= 1 else {
            return nil
        }
        self.init(rate: rate, burst: burst)
    }

    public static let unlimited = RateLimit(rate: .infinity, burst: .infinity)
}

public struct RateLimits: Sendable, Equatable {
    public var votesPerParticipant = RateLimit(rate: 5, burst: 30)
    public var votesPerIP = RateLimit(rate: 300, burst: 2000)
    public var statementsPerParticipant = RateLimit(rate: 0.1, burst: 5)
    public var statementsPerIP = RateLimit(rate: 2, burst: 60)
    public var loginsPerIP = RateLimit(rate: 0.2, burst: 10)
    /// New participants per address (a first vote in the page, a registration in the API): a
    /// room of people behind one address can start together, a script cannot mint hundreds.
    public var participantsPerIP = RateLimit(rate: 0.2, burst: 30)
    /// Failed sign-ins per account: five, then the account is locked until the bucket refills
    /// (one attempt back every three minutes), whichever address they come from.
    public var loginFailuresPerAccount = RateLimit(rate: 1.0 / 180, burst: 5)

    public init() {}

    public static let unlimited: RateLimits = {
        var limits = RateLimits()
        limits.votesPerParticipant = .unlimited
        limits.votesPerIP = .unlimited
        limits.statementsPerParticipant = .unlimited
        limits.statementsPerIP = .unlimited
        limits.loginsPerIP = .unlimited
        limits.participantsPerIP = .unlimited
        limits.loginFailuresPerAccount = .unlimited
        return limits
    }()
}

/// What the HTTP application needs to know that is not in the database.
public struct HTTPConfiguration: Sendable {
    /// Requests with larger bodies are refused with 413.
    public var maxBodyBytes: Int = 64 * 1024
    /// The one exception: conversation imports, whose files run to megabytes.
    public var maxImportBytes: Int = 64 * 1024 * 1024
    /// What an import may unpack to: uncompressed bytes, compression ratio, CSV rows and columns.
    public var importLimits = ImportLimits()
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` name the client (`--trusted-proxies`).
    public var trustedProxies: [CIDR] = []
    public var rateLimits = RateLimits()
    /// Sets `Secure` on cookies; turn on behind HTTPS.
    public var secureCookies = false
    /// Where the static files (CSS) are served from.
    public var publicDirectory = "Public"
    public var organiserSessionLifetime: TimeInterval = 12 * 3600
    /// A connection that sends nothing for this long is closed, so idle or stalled clients do
    /// not hold connections open.
    public var idleTimeout: Duration = .seconds(30)
    /// A request's head must arrive whole within this long of the connection opening or of the
    /// previous response, however steadily its bytes trickle in.
    public var headerTimeout: Duration = .seconds(20)
    /// A request's body must arrive within this long of its head, plus a second for every
    /// `minimumBodyRate` bytes received.
    public var bodyTimeout: Duration = .seconds(20)
    public var minimumBodyRate = 500
    public var passwordHasher = PasswordHasher()

    public init() {}
}
