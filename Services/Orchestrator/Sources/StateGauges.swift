import Foundation
import Metrics
import Postgres

/// Gauges read from Postgres every few seconds: pending (suspended) executions, requests by status and the
/// outbox backlog.
struct StateGauges: Sendable {
    let pool: PostgresPool
    var interval: Duration = .seconds(5)

    func run() async throws {
        while !Task.isCancelled {
            _ = try? await update()
            try await Task.sleep(for: interval)
        }
    }

    func update() async throws {
        let running = try await pool.query("SELECT count(*) FROM durable_executions WHERE status = 'RUNNING'").column(Int.self)
        Gauge(label: "greenlight_pending_executions").record(running.first ?? 0)
        let backlog = try await pool.query("SELECT count(*) FROM durable_outbox WHERE sent_at IS NULL").column(Int.self)
        Gauge(label: "greenlight_outbox_backlog").record(backlog.first ?? 0)
        for (status, count) in try await pool.query("SELECT status, count(*) FROM approval_requests GROUP BY status")
            .decode((String, Int).self)
        {
            Gauge(label: "greenlight_requests", dimensions: [("status", status)]).record(count)
        }
    }
}
