import Foundation
import GreenlightModels
import Metrics
import Postgres

/// Gauges read from Postgres every few seconds: pending (suspended) executions, requests by status, the outbox
/// backlog and the timers overdue by more than a minute (firing them keeps failing, or no scheduler runs).
struct StateGauges: Sendable {
    let pool: PostgresPool
    /// The event lanes, whose oldest event in progress is a gauge too.
    var lanes: LaneWatch?
    var interval: Duration = .seconds(5)

    func run() async throws {
        while !Task.isCancelled {
            _ = lanes?.check()
            _ = try? await update()
            try await Task.sleep(for: interval)
        }
    }

    func update() async throws {
        let running = try await pool.query("SELECT count(*) FROM durable_executions WHERE status = 'RUNNING'").column(Int.self)
        Gauge(label: "greenlight_pending_executions").record(running.first ?? 0)
        let backlog = try await pool.query("SELECT count(*) FROM durable_outbox WHERE sent_at IS NULL").column(Int.self)
        Gauge(label: "greenlight_outbox_backlog").record(backlog.first ?? 0)
        let overdue = try await pool.query(
            "SELECT count(*) FROM durable_timers WHERE fired_at IS NULL AND due_at < now() - interval '1 minute'"
        ).column(Int.self)
        Gauge(label: "greenlight_overdue_timers").record(overdue.first ?? 0)
        let counts = Dictionary(
            try await pool.query("SELECT status, count(*) FROM approval_requests GROUP BY status").decode((String, Int).self),
            uniquingKeysWith: +)
        // Every status, so that one with no requests left (no pending ones, say) reads 0 and not its last count.
        for status in ApprovalStatus.allCases {
            Gauge(label: "greenlight_requests", dimensions: [("status", status.rawValue)]).record(counts[status.rawValue] ?? 0)
        }
    }
}
