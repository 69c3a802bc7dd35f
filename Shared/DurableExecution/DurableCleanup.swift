import Foundation
import Postgres

/// Removes the engine's bookkeeping once it has served its purpose, in bounded batches: timers that fired (or were
/// cancelled), inbox rows older than the longest a message may be delivered again, and signals kept for an
/// execution that never started.
public enum DurableCleanup {
    public static func deleteFiredTimers(before cutoff: Date, limit: Int, on connection: PostgresConnection) async throws -> Int {
        try await connection.query(
            """
            DELETE FROM durable_timers WHERE timer_id IN (
                SELECT timer_id FROM durable_timers WHERE fired_at < \(cutoff) LIMIT \(limit))
            """
        ).affectedRows
    }

    /// Inbox rows (consumed events' ids) received before `cutoff`. Keep them longer than the topics keep messages:
    /// an event delivered again after its row is gone would be applied again.
    public static func deleteInbox(before cutoff: Date, limit: Int, on connection: PostgresConnection) async throws -> Int {
        try await connection.query(
            """
            DELETE FROM durable_inbox WHERE event_id IN (
                SELECT event_id FROM durable_inbox WHERE received_at < \(cutoff) LIMIT \(limit))
            """
        ).affectedRows
    }

    /// Signals kept since before `cutoff` for an execution that never started (a decision about a request that
    /// never came). A signal for an execution that exists is never removed here: it waits to be received.
    public static func deleteUnclaimedSignals(before cutoff: Date, limit: Int, on connection: PostgresConnection) async throws
        -> Int
    {
        try await connection.query(
            """
            DELETE FROM durable_signals WHERE id IN (
                SELECT s.id FROM durable_signals s
                WHERE s.received_at < \(cutoff)
                  AND NOT EXISTS (SELECT 1 FROM durable_executions e WHERE e.name = s.execution_name)
                LIMIT \(limit))
            """
        ).affectedRows
    }
}
