import Foundation

/// When a message that failed for now is tried again: `initial`, doubling with each attempt, at most `maximum`,
/// each delay drawn at random between half and all of it (so that messages that failed together do not all come
/// back together, and a mail server that returns is not hit by everything at once).
struct RetrySchedule: Sendable {
    var initial: Duration = .seconds(2)
    var maximum: Duration = .seconds(300)

    /// The delay after failed attempt `attempt` (1 for the first).
    func delay(afterAttempt attempt: Int) -> TimeInterval {
        let initialSeconds = Self.seconds(initial)
        let full = min(Self.seconds(maximum), initialSeconds * pow(2, Double(min(max(attempt, 1), 30) - 1)))
        return full * Double.random(in: 0.5...1)
    }

    static func seconds(_ duration: Duration) -> TimeInterval {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
