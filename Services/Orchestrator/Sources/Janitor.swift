import ApprovalStore
import DurableExecution
import Foundation
import Logging
import Postgres

/// Deletes what has served its purpose, in bounded batches (like DynamoDB's TTL in the original pattern):
/// link tokens a day after they expired, timers an hour after they fired, and decisions kept for a request that
/// has not arrived within a week.
struct Janitor: Sendable {
    let pool: PostgresPool
    let logger: Logger
    var interval: Duration = .seconds(60)
    var batchSize = 1000

    func run() async throws {
        while !Task.isCancelled {
            do {
                let removed = try await sweep(now: Date())
                if removed.tokens + removed.timers + removed.earlyDecisions > 0 {
                    logger.info(
                        "Cleaned up",
                        metadata: [
                            "linkTokens": "\(removed.tokens)", "timers": "\(removed.timers)",
                            "earlyDecisions": "\(removed.earlyDecisions)",
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

    /// One batch of each; returns how many rows went.
    func sweep(now: Date) async throws -> (tokens: Int, timers: Int, earlyDecisions: Int) {
        let tokens = try await pool.withConnection { connection in
            try await ApprovalWriter(connection).deleteExpiredLinkTokens(before: now.addingTimeInterval(-86_400), limit: batchSize)
        }
        let timers = try await pool.withConnection { connection in
            try await TimerCleanup.deleteFiredTimers(before: now.addingTimeInterval(-3600), limit: batchSize, on: connection)
        }
        let earlyDecisions = try await pool.withConnection { connection in
            try await ApprovalWriter(connection).deleteEarlyDecisions(before: now.addingTimeInterval(-7 * 86_400), limit: batchSize)
        }
        return (tokens, timers, earlyDecisions)
    }
}
