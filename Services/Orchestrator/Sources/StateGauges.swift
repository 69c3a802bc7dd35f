import Foundation
import Metrics
import Postgres

/// Gauges read from Postgres every few seconds: pending (suspended) executions, pending requests, the outbox
/// backlog and the timers overdue by more than a minute (firing them keeps failing, or no scheduler runs). Each is
/// read through a partial index over what is pending, so what a read costs follows the work in flight, not every
/// request ever made (requests are kept as the audit trail). How requests ended is counted as each outcome is written
/// (`greenlight_requests_completed_total`), not read back here.
struct StateGauges: Sendable {
    let pool: PostgresPool
    /// The event lanes, whose oldest event in progress is a gauge too.
    var lanes: LaneWatch?
    var interval: Duration = .seconds(5)

    /// Each gauge, by label and dimensions, and the statement that reads it.
    static let readings: [(label: String, dimensions: [(String, String)], query: PostgresQuery)] = [
        ("greenlight_pending_executions", [], "SELECT count(*) FROM durable_executions WHERE status = 'RUNNING'"),
        ("greenlight_requests", [("status", "pending")], "SELECT count(*) FROM approval_requests WHERE status = 'pending'"),
        ("greenlight_outbox_backlog", [], "SELECT count(*) FROM durable_outbox WHERE sent_at IS NULL"),
        (
            "greenlight_overdue_timers", [],
            "SELECT count(*) FROM durable_timers WHERE fired_at IS NULL AND due_at < now() - interval '1 minute'"
        ),
    ]

    func run() async throws {
        while !Task.isCancelled {
            _ = lanes?.check()
            _ = try? await update()
            try await Task.sleep(for: interval)
        }
    }

    func update() async throws {
        for (label, dimensions, query) in Self.readings {
            Gauge(label: label, dimensions: dimensions).record(try await pool.query(query).column(Int.self).first ?? 0)
        }
    }
}
