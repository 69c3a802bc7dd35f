import ApprovalStore
import Foundation
import Logging
import Postgres
import ServiceSupport

/// Fires due timers. Any number of orchestrators may run one: timers are claimed with `FOR UPDATE SKIP LOCKED`,
/// so no timer fires twice and a dead instance's timers are picked up by the others.
struct TimerScheduler: Sendable {
    let pool: PostgresPool
    let workflow: ApprovalWorkflow
    let pollInterval: Duration
    let outboxWakeUp: WakeUpSignal
    let logger: Logger
    let batchSize = 100

    func run() async throws {
        while !Task.isCancelled {
            let fired: Int
            do {
                fired = try await fireDueTimers()
            } catch is CancellationError {
                return
            } catch {
                logger.warning("Firing timers failed; retrying", metadata: ["error": "\(error)"])
                fired = 0
            }
            if fired > 0 { outboxWakeUp.signal() }
            if fired < batchSize { try? await Task.sleep(for: pollInterval) }
        }
    }

    /// Claims and fires one batch of due timers in one transaction; returns how many.
    func fireDueTimers() async throws -> Int {
        try await pool.transaction { connection in
            let writer = ApprovalWriter(connection)
            let now = Date()
            let due = try await writer.claimDueTimers(now: now, limit: batchSize)
            for timer in due {
                try await workflow.fire(timer, writer: writer, now: now, logger: logger)
            }
            return due.count
        }
    }
}
