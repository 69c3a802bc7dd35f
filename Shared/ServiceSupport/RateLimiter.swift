import Foundation
import Synchronization

/// A token bucket per key (a client address): `perMinute` requests a minute on average, in bursts of up to
/// `perMinute`. Memory is bounded: at most `maxKeys` buckets are kept, and full (idle) ones are dropped first.
public final class RateLimiter: Sendable {
    struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    public let perMinute: Int
    let maxKeys: Int
    private let buckets = Mutex<[String: Bucket]>([:])
    private let clock: @Sendable () -> ContinuousClock.Instant

    /// `clock` is the time source; tests pass a fixed one so that a slow machine does not change the answers.
    public init(perMinute: Int, maxKeys: Int = 100_000, clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.perMinute = perMinute
        self.maxKeys = maxKeys
        self.clock = clock
    }

    var refillPerSecond: Double { Double(perMinute) / 60 }

    /// Takes one request's token for `key`. Nil when the request may go ahead; otherwise the whole seconds to
    /// wait before the next one would be allowed (for `Retry-After`).
    public func acquire(_ key: String) -> Int? {
        let now = clock()
        return buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: Double(perMinute), updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(Double(perMinute), bucket.tokens + max(0, seconds) * refillPerSecond)
            bucket.updated = now
            defer {
                buckets[key] = bucket
                if buckets.count > maxKeys { Self.prune(&buckets, now: now, capacity: Double(perMinute), refill: refillPerSecond, keep: maxKeys) }
            }
            guard bucket.tokens >= 1 else {
                return max(1, Int(((1 - bucket.tokens) / refillPerSecond).rounded(.up)))
            }
            bucket.tokens -= 1
            return nil
        }
    }

    /// Drops buckets that have refilled completely (their clients look new again anyway), then, if still too
    /// many, the least recently used down to 90% of `keep` — so that the next prune is `keep / 10` new clients
    /// away, and a flood of addresses pays for it once in a while, not on every request.
    static func prune(_ buckets: inout [String: Bucket], now: ContinuousClock.Instant, capacity: Double, refill: Double, keep: Int) {
        let idleForFull = Duration.seconds(capacity / refill)
        buckets = buckets.filter { now - $0.value.updated < idleForFull }
        if buckets.count > keep {
            let newest = buckets.sorted { $0.value.updated > $1.value.updated }.prefix(max(1, keep * 9 / 10))
            buckets = Dictionary(uniqueKeysWithValues: newest.map { ($0.key, $0.value) })
        }
    }

    /// How many client addresses are being tracked.
    public var keyCount: Int { buckets.withLock { $0.count } }
}
