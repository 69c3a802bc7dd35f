import Foundation
import GreenlightTestSupport
import Postgres
import Testing

@testable import DurableExecution

@Suite(.timeLimit(.minutes(1)))
struct TimerIndexTests {
    /// A decision retires its callback's timers and a finished execution all of its own; with many requests
    /// waiting, that must be an index look-up, not a scan of every pending timer.
    @Test func retiringTimersLooksThemUpByCallbackAndByExecution() async throws {
        let harness = try await EngineHarness.make()
        try await harness.pool.query(
            """
            INSERT INTO durable_executions (execution_id, workflow, name, status, input, created_at, updated_at)
            SELECT md5(i::text)::uuid, 'w', 'e' || i, 'RUNNING', '{}', now(), now() FROM generate_series(1, 5000) i
            """)
        try await harness.pool.query(
            """
            INSERT INTO durable_timers (timer_id, execution_id, kind, callback_id, due_at)
            SELECT gen_random_uuid(), md5(i::text)::uuid, 'CALLBACK_TIMEOUT', gen_random_uuid(), now() + interval '1 day'
            FROM generate_series(1, 5000) i
            """)
        try await harness.pool.query("ANALYZE durable_timers")
        let byCallback = try await harness.plan(DurableStore.cancelTimersQuery(callbackId: UUID(), at: Date()))
        #expect(byCallback.contains("durable_timers_pending_callback"), "\(byCallback)")
        let byExecution = try await harness.plan(DurableStore.cancelTimersQuery(executionId: UUID(), at: Date()))
        #expect(byExecution.contains("durable_timers_pending_execution"), "\(byExecution)")
    }
}
