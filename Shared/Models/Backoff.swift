import Foundation

/// Exponential back-off with a cap and jitter: the one schedule every retry in Greenlight follows — a step's
/// retries, a timer that failed to fire, an email the mail server refused for now, and work that waits for a
/// dependency (`retrying` in ServiceSupport). Each delay is `initial`, times `multiplier` per attempt, at most
/// `maximum`, then drawn at random between `1 - jitter` and all of it, so that what failed together does not all
/// come back together.
public struct Backoff: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration
    public var multiplier: Double
    /// The share of each delay that is random: 0 for none, 0.5 for "between half and all of it".
    public var jitter: Double

    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(5), multiplier: Double = 2, jitter: Double = 0.5) {
        self.initial = initial
        self.maximum = max(initial, maximum)
        self.multiplier = max(1, multiplier)
        self.jitter = min(1, max(0, jitter))
    }

    /// The longest the delay after failed attempt `attempt` (1 for the first) can be: the schedule without jitter.
    public func ceiling(afterAttempt attempt: Int) -> Duration {
        let seconds = Self.seconds(initial) * pow(multiplier, Double(min(max(attempt, 1), 64) - 1))
        return min(maximum, .seconds(min(seconds, Self.seconds(maximum))))
    }

    /// The delay after failed attempt `attempt` (1 for the first), jitter drawn.
    public func delay(afterAttempt attempt: Int) -> Duration {
        let ceiling = Self.seconds(ceiling(afterAttempt: attempt))
        return .seconds(ceiling * Double.random(in: (1 - jitter)...1))
    }

    /// The same in seconds, for what is stored as a time (a row's next attempt).
    public func delaySeconds(afterAttempt attempt: Int) -> TimeInterval {
        Self.seconds(delay(afterAttempt: attempt))
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
