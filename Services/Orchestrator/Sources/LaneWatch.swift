import Metrics
import Synchronization

/// How long each partition lane has been busy with the events in hand. A lane that stays busy for long is stuck
/// (an event it cannot apply, a dependency that does not answer) and everything behind it waits: the gauge
/// `greenlight_oldest_event_in_progress_seconds` and `/readyz` (`events`) say so instead of staying silent.
final class LaneWatch: Sendable {
    private let started = Mutex<[String: ContinuousClock.Instant]>([:])
    /// How long a lane may be busy before `/readyz` calls it stalled.
    let stallThreshold: Duration

    init(stallThreshold: Duration = .seconds(60)) {
        self.stallThreshold = stallThreshold
    }

    /// Runs `body` as the lane's work in hand (`lane` names the consumer and the partition).
    func watching<T>(_ lane: String, _ body: () async throws -> T) async throws -> T {
        started.withLock { $0[lane] = $0[lane] ?? .now }
        defer { started.withLock { _ = $0.removeValue(forKey: lane) } }
        return try await body()
    }

    /// How long the busiest lane has been at its events; zero when every lane is idle.
    var oldest: Duration {
        let now = ContinuousClock.now
        return started.withLock { $0.values.map { now - $0 }.max() } ?? .zero
    }

    /// Records the gauge and answers whether no lane is stalled.
    func check() -> Bool {
        let oldest = self.oldest
        Gauge(label: "greenlight_oldest_event_in_progress_seconds")
            .record(Double(oldest.components.seconds) + Double(oldest.components.attoseconds) / 1e18)
        return oldest < stallThreshold
    }
}
