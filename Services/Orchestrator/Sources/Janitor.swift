import ApprovalStore
import DurableExecution
import Foundation
import Logging
import Postgres

/// Deletes what has served its purpose, in bounded batches (like DynamoDB's TTL in the original pattern): link
/// tokens a day after they expired, timers an hour after they fired, inbox rows after `inboxRetention` (longer
/// than the topics keep a message, so that a redelivered event is still recognised), and decisions or callback
/// completions kept for a request that has not arrived within a week. Ages are judged by the database's clock.
struct Janitor: Sendable {
    let pool: PostgresPool
    let logger: Logger
    var inboxRetention: Duration = .seconds(8 * 86_400)
    var interval: Duration = .seconds(60)
    var batchSize = 1000

    /// How many rows one sweep removed, by kind.
    struct Removed: Equatable, Sendable {
        var tokens = 0
        var timers = 0
        var inbox = 0
        /// Signals (decisions, say) kept for a request that never came.
        var unclaimedSignals = 0

        var total: Int { tokens + timers + inbox + unclaimedSignals }
    }

    func run() async throws {
        while !Task.isCancelled {
            do {
                let removed = try await sweep()
                if removed.total > 0 {
                    logger.info(
                        "Cleaned up",
                        metadata: [
                            "linkTokens": "\(removed.tokens)", "timers": "\(removed.timers)",
                            "inbox": "\(removed.inbox)", "unclaimedSignals": "\(removed.unclaimedSignals)",
                        ])
                }
            } catch is CancellationError {
                return
            } catch {
                logger.warning("Clean-up failed; will try again", metadata: ["error": "\(error)"])
            }
            try await Task.sleep(for: interval)
        }
    }

    /// One batch of each, as of `now` (the database's time when nil).
    func sweep(now: Date? = nil) async throws -> Removed {
        let given = now
        return try await pool.withConnection { connection in
            let now = if let given { given } else { try await connection.databaseTime() }
            let week: TimeInterval = 7 * 86_400
            let writer = ApprovalWriter(connection)
            var removed = Removed()
            removed.tokens = try await writer.deleteExpiredLinkTokens(before: now.addingTimeInterval(-86_400), limit: batchSize)
            removed.timers = try await DurableCleanup.deleteFiredTimers(
                before: now.addingTimeInterval(-3600), limit: batchSize, on: connection)
            removed.inbox = try await DurableCleanup.deleteInbox(
                before: now.addingTimeInterval(-TimeInterval(inboxRetention.components.seconds)), limit: batchSize, on: connection)
            removed.unclaimedSignals = try await DurableCleanup.deleteUnclaimedSignals(
                before: now.addingTimeInterval(-week), limit: batchSize, on: connection)
            return removed
        }
    }
}
