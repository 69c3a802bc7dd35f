import Foundation
import Logging
import Postgres

/// Fires due timers in batches; when a batch claims fewer than it could, waits `pollInterval` (or until `wakeUp` is
/// signalled) before looking again, so a timer fires within about `pollInterval` of falling due, plus the time to
/// fire it.
/// (Nothing in the orchestrator signals `wakeUp` today.) Any number of schedulers may share a database.
public struct TimerScheduler: Sendable {
    let pool: PostgresPool
    let engine: DurableEngine
    let pollInterval: Duration
    let wakeUp: WakeUpSignal
    let onFired: @Sendable (DurableEngine.FiredTimers) -> Void
    let logger: Logger
    let batchSize: Int

    public init(
        pool: PostgresPool, engine: DurableEngine, pollInterval: Duration, wakeUp: WakeUpSignal, logger: Logger,
        batchSize: Int = 100, onFired: @escaping @Sendable (DurableEngine.FiredTimers) -> Void = { _ in }
    ) {
        self.pool = pool
        self.engine = engine
        self.pollInterval = pollInterval
        self.wakeUp = wakeUp
        self.logger = logger
        self.batchSize = batchSize
        self.onFired = onFired
    }

    /// Fires timers until cancelled, with `workers` loops side by side (each claims its own batch with
    /// `SKIP LOCKED`, on its own connection), so that many deadlines falling together are fired in parallel.
    public func run(workers: Int = 1) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, workers) { group.addTask { try await loop() } }
            try await group.waitForAll()
        }
    }

    private func loop() async throws {
        while !Task.isCancelled {
            var claimed = 0
            do {
                let result = try await engine.fireDueTimers(limit: batchSize, in: pool)
                claimed = result.claimed
                if result.count > 0 || !result.failed.isEmpty { onFired(result) }
            } catch is CancellationError {
                return
            } catch {
                logger.warning("Firing timers failed; retrying", metadata: ["error": "\(error)"])
            }
            if claimed < batchSize { await wakeUp.wait(timeout: pollInterval) }
        }
    }
}
