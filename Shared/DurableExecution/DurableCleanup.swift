import Foundation
import Postgres

/// Removes the engine's bookkeeping once it has served its purpose, in bounded batches: timers that fired (or were
/// cancelled), inbox rows older than the longest a message may be delivered again, and completions kept for a
/// callback that never came.
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

    public static func deleteEarlyCompletions(before cutoff: Date, limit: Int, on connection: PostgresConnection) async throws
        -> Int
    {
        try await connection.query(
            """
            DELETE FROM durable_early_completions WHERE id IN (
                SELECT id FROM durable_early_completions WHERE received_at < \(cutoff) LIMIT \(limit))
            """
        ).affectedRows
    }
}
