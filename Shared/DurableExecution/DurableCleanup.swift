import Foundation
import Postgres

/// Removes timers that fired (or were cancelled) long enough ago.
public enum TimerCleanup {
    public static func deleteFiredTimers(before cutoff: Date, limit: Int, on connection: PostgresConnection) async throws -> Int {
        try await connection.query(
            """
            DELETE FROM durable_timers WHERE timer_id IN (
                SELECT timer_id FROM durable_timers WHERE fired_at < \(cutoff) LIMIT \(limit))
            """
        ).affectedRows
    }
}
