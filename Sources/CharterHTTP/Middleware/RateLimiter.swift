import Foundation
import Synchronization

/// Token buckets keyed by caller ("vote:ip:127.0.0.1"). Memory stays bounded: a bucket that has
/// refilled completely carries no information, and each bucket knows when that happens by its
/// own limit, so pruning for one limit never forgets another's. The table is split into shards,
/// each under its own lock, and a shard is pruned only when it has doubled since its last
/// pruning, so a request pays O(1) amortised and never waits on a scan of every caller.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
        /// When the bucket will be full again and can be forgotten.
        var full: ContinuousClock.Instant
    }

    private struct Shard {
        var buckets: [String: Bucket] = [:]
        var pruneAbove: Int
    }

    private final class LockedShard: Sendable {
        let state: Mutex<Shard>
        init(pruneAbove: Int) { state = Mutex(Shard(pruneAbove: pruneAbove)) }
    }

    private static let shardCount = 16
    private let shards: [LockedShard]
    private let clock = ContinuousClock()

    /// `pruneAbove` callers per shard before the first pruning.
    init(pruneAbove: Int = 4_096) {
        shards = (0..<Self.shardCount).map { _ in LockedShard(pruneAbove: pruneAbove) }
    }

    private func shard(_ key: String) -> LockedShard {
        var hasher = Hasher()
        hasher.combine(key)
        let index = Int(UInt(bitPattern: hasher.finalize()) % UInt(Self.shardCount))
        return shards[index]
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// Takes one token from the key's bucket; throws 429 with the wait when it is empty.
    func consume(_ key: String, limit: RateLimit) throws(AppError) {
        guard limit.rate.isFinite else { return }
        let now = clock.now
        let wait: Double? = shard(key).state.withLock { shard in
            var bucket = shard.buckets[key] ?? Bucket(tokens: limit.burst, updated: now, full: now)
            bucket.tokens = min(limit.burst, bucket.tokens + Self.seconds(now - bucket.updated) * limit.rate)
            bucket.updated = now
            var result: Double?
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
            } else {
                result = (1 - bucket.tokens) / limit.rate
            }
            bucket.full = now + .seconds((limit.burst - bucket.tokens) / limit.rate)
            shard.buckets[key] = bucket
            if shard.buckets.count > shard.pruneAbove {
                shard.buckets = shard.buckets.filter { $0.value.full > now }
                shard.pruneAbove = max(shard.pruneAbove, shard.buckets.count * 2)
            }
            return result
        }
        if let wait { throw AppError.rateLimited(retryAfter: max(1, Int(wait.rounded(.up)))) }
    }

    /// Gives back the token a refused request took (a submission the store turned down), so
    /// only what is accepted counts against the limit.
    func refund(_ key: String, limit: RateLimit) {
        guard limit.rate.isFinite else { return }
        shard(key).state.withLock { shard in
            guard var bucket = shard.buckets[key] else { return }
            bucket.tokens = min(limit.burst, bucket.tokens + 1)
            shard.buckets[key] = bucket
        }
    }

    /// Seconds until the key's bucket holds a token again; 0 when it holds one now. Takes nothing.
    func wait(_ key: String, limit: RateLimit) -> Int {
        guard limit.rate.isFinite else { return 0 }
        let now = clock.now
        return shard(key).state.withLock { shard in
            guard let bucket = shard.buckets[key] else { return 0 }
            let tokens = min(limit.burst, bucket.tokens + Self.seconds(now - bucket.updated) * limit.rate)
            return tokens >= 1 ? 0 : max(1, Int(((1 - tokens) / limit.rate).rounded(.up)))
        }
    }

    /// How many callers are remembered (for tests of the bound).
    var count: Int {
        shards.reduce(0) { total, shard in total + shard.state.withLock { $0.buckets.count } }
    }
}
