import Foundation
import Synchronization

/// Token buckets keyed by caller ("vote:ip:127.0.0.1"). Memory stays bounded: buckets that have
/// refilled completely carry no information and are dropped when the table grows.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let buckets = Mutex<[String: Bucket]>([:])
    private let clock = ContinuousClock()
    private let pruneAbove = 50_000

    /// Takes one token from the key's bucket; throws 429 with the wait when it is empty.
    func consume(_ key: String, limit: RateLimit) throws(AppError) {
        guard limit.rate.isFinite else { return }
        let now = clock.now
        let wait: Double? = buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: limit.burst, updated: now)
            let elapsed =
                Double((now - bucket.updated).components.attoseconds) / 1e18
                + Double((now - bucket.updated).components.seconds)
            bucket.tokens = min(limit.burst, bucket.tokens + elapsed * limit.rate)
            bucket.updated = now
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                buckets[key] = bucket
                if buckets.count > pruneAbove { Self.prune(&buckets, now: now, limit: limit) }
                return nil
            }
            buckets[key] = bucket
            return (1 - bucket.tokens) / limit.rate
        }
        if let wait { throw AppError.rateLimited(retryAfter: max(1, Int(wait.rounded(.up)))) }
    }

    /// Seconds until the key's bucket holds a token again; 0 when it holds one now. Takes nothing.
    func wait(_ key: String, limit: RateLimit) -> Int {
        guard limit.rate.isFinite else { return 0 }
        let now = clock.now
        return buckets.withLock { buckets in
            guard let bucket = buckets[key] else { return 0 }
            let elapsed =
                Double((now - bucket.updated).components.attoseconds) / 1e18
                + Double((now - bucket.updated).components.seconds)
            let tokens = min(limit.burst, bucket.tokens + elapsed * limit.rate)
            return tokens >= 1 ? 0 : max(1, Int(((1 - tokens) / limit.rate).rounded(.up)))
        }
    }

    private static func prune(_ buckets: inout [String: Bucket], now: ContinuousClock.Instant, limit: RateLimit) {
        let refillTime = Duration.seconds(limit.burst / limit.rate)
        buckets = buckets.filter { now - $0.value.updated < refillTime }
    }
}
