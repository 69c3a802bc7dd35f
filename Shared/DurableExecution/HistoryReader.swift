import Foundation
import GreenlightModels
import Postgres

/// Reads executions' histories and states (read-only, any pool).
public struct DurableReader: Sendable {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// The ordered history of the execution named `name`, its events numbered from 1; nil when there is no such
    /// execution.
    public func history(ofExecution name: String) async throws -> [HistoryEvent]? {
        guard
            let executionId = try await pool.query("SELECT execution_id FROM durable_executions WHERE name = \(name)")
                .column(UUID.self).first
        else { return nil }
        let rows = try await pool.query(
            """
            SELECT event_type, details, at FROM durable_history_events WHERE execution_id = \(executionId)
            ORDER BY seq, n
            """)
        return try rows.decode((String, String, Date).self).enumerated().map { index, event in
            HistoryEvent(
                id: Int64(index + 1), type: event.0, timestamp: event.2,
                details: (try? GreenlightJSON.decode([String: JSONValue].self, from: Data(event.1.utf8))) ?? [:])
        }
    }

    /// A callback by id.
    public func callback(_ callbackId: UUID) async throws -> (record: CallbackRecord, executionName: String)? {
        guard
            let row = try await pool.query(
                """
                SELECT c.callback_id, c.execution_id, c.name, c.status, c.timeout_at, c.heartbeat_seconds,
                       c.heartbeat_due_at, c.result, c.error_type, c.error_message, c.started_at, c.ended_at,
                       e.name AS execution_name
                FROM durable_callbacks c JOIN durable_executions e ON e.execution_id = c.execution_id
                WHERE c.callback_id = \(callbackId)
                """
            ).first
        else { return nil }
        return (try DurableStore.callback(from: row), try row.decode(String.self, column: "execution_name"))
    }

    /// The callbacks of the execution named `name`, oldest first.
    public func callbacks(ofExecution name: String) async throws -> [CallbackRecord] {
        try await pool.query(
            """
            SELECT c.callback_id, c.execution_id, c.name, c.status, c.timeout_at, c.heartbeat_seconds,
                   c.heartbeat_due_at, c.result, c.error_type, c.error_message, c.started_at, c.ended_at
            FROM durable_callbacks c JOIN durable_executions e ON e.execution_id = c.execution_id
            WHERE e.name = \(name) ORDER BY c.started_at
            """
        ).map(DurableStore.callback(from:))
    }
}
