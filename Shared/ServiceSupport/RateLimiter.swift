import Foundation
import Synchronization

/// A token bucket per key (a client address, an API key, an email address): `limit` a `period` on average, in
/// bursts of up to `limit`. Memory is bounded: at most `maxKeys` buckets are kept, and full (idle) ones are dropped
/// first.
public final class RateLimiter: Sendable {
    struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    public let limit: Int
    let maxKeys: Int
    private let buckets = Mutex<[String: Bucket]>([:])
    private let clock: @Sendable () -> ContinuousClock.Instant
    let refillPerSecond: Double

    /// `clock` is the time source; tests pass a fixed one so that a slow machine does not change the answers.
    public init(
        _ limit: Int, per period: Duration, maxKeys: Int = 100_000,
        clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.limit = limit
        self.maxKeys = maxKeys
        self.clock = clock
        refillPerSecond = Double(limit) / Self.seconds(period)
    }

    public convenience init(
        perMinute: Int, maxKeys: Int = 100_000, clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.init(perMinute, per: .seconds(60), maxKeys: maxKeys, clock: clock)
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// Takes one request's token for `key`. Nil when the request may go ahead; otherwise the whole seconds to
    /// wait before the next one would be allowed (for `Retry-After`).
    public func acquire(_ key: String) -> Int? {
        acquire(all: [key])
    }

    /// Takes a token for each of `keys`, or none of them: nil when every one had a token; otherwise the seconds
    /// until the last of those short of one has one again.
    public func acquire(all keys: some Collection<String>) -> Int? {
        let now = clock()
        let capacity = Double(limit)
        return buckets.withLock { buckets in
            var refilled: [String: Bucket] = [:]
            var wait = 0
            for key in Set(keys) {
                var bucket = buckets[key] ?? Bucket(tokens: capacity, updated: now)
                bucket.tokens = min(capacity, bucket.tokens + max(0, Self.seconds(now - bucket.updated)) * refillPerSecond)
                bucket.updated = now
                if bucket.tokens < 1 { wait = max(wait, max(1, Int(((1 - bucket.tokens) / refillPerSecond).rounded(.up)))) }
                refilled[key] = bucket
            }
            for (key, var bucket) in refilled {
                if wait == 0 { bucket.tokens -= 1 }
                buckets[key] = bucket
            }
            if buckets.count > maxKeys { Self.prune(&buckets, now: now, capacity: capacity, refill: refillPerSecond, keep: maxKeys) }
            return wait == 0 ? nil : wait
        }
    }

    /// Returns the tokens `acquire(all:)` took for `keys`, when what they were taken for did not happen.
    public func giveBack(all keys: some Collection<String>) {
        buckets.withLock { buckets in
            for key in Set(keys) {
                if var bucket = buckets[key] {
                    bucket.tokens = min(Double(limit), bucket.tokens + 1)
                    buckets[key] = bucket
                }
            }
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
