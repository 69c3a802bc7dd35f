@testable import ApprovalStore
import DurableExecution
import Foundation
import GreenlightModels
import GreenlightTestSupport
@testable import Notifier
import Postgres
import Testing

/// ANALYZE (autovacuum's, and `TableGrowth`'s while the tables are young) samples only the columns a plan can use:
/// the JSON, arrays and free text that are written and read back by key are skipped, since computing their most
/// common values and histograms is most of what analyzing the tables an approval fills costs.
@Suite(.timeLimit(.minutes(1)))
struct PlannerStatisticsTests {
    /// Each table's skipped columns, after every component's migrations.
    @Test func theColumnsThatAreOnlyReadBackHaveNoStatisticsTarget() async throws {
        let pool = try await migratedDatabase("statistics-targets")
        let skipped = try await pool.query(
            """
            SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            WHERE a.attstattarget = 0 AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind = 'r'
              AND c.relnamespace = current_schema()::regnamespace
            ORDER BY 1, 2
            """
        ).decode((String, String).self)
        let byTable = Dictionary(grouping: skipped, by: \.0).mapValues { $0.map(\.1) }
        #expect(
            byTable == [
                "approval_requests": ["content", "decision_comment", "description", "error_message", "response"],
                "approval_votes": ["comment", "response", "user_agent"],
                "durable_callbacks": ["error_message", "result"],
                "durable_executions": ["error_message", "input", "output"],
                "durable_history": ["details"],
                "durable_history_pages": ["dated", "details", "event_types"],
                "durable_operation_pages": [
                    "error_messages", "error_types", "kinds", "names", "positions", "results", "statuses",
                ],
                "durable_outbox": ["headers", "payload"],
                "durable_signals": ["payload"],
                "notifier_messages": ["last_error", "payload"],
            ])
    }

    /// What ANALYZE keeps of an execution's pages: statistics on the keys and dates a look-up is planned by, none on
    /// the checkpoints and events themselves.
    @Test func anAnalyzedPageHasStatisticsOnlyOnItsKeys() async throws {
        let pool = try await migratedDatabase("statistics-pages")
        try await pool.query(
            """
            INSERT INTO durable_executions (execution_id, workflow, name, status, input, created_at, updated_at)
            SELECT md5(i::text)::uuid, 'w', 'e' || i, 'RUNNING', '{"amount":' || i || '}', now(), now()
            FROM generate_series(1, 500) i
            """)
        try await pool.query(
            """
            INSERT INTO durable_operation_pages
                (execution_id, positions, kinds, names, statuses, results, error_types, error_messages, at)
            SELECT md5(i::text)::uuid, ARRAY[0, 1], ARRAY['STEP', 'CALLBACK'], ARRAY['record', 'approval'],
                   ARRAY['SUCCEEDED', 'STARTED'], ARRAY['{"n":' || i || '}', NULL], ARRAY[NULL, NULL]::text[],
                   ARRAY[NULL, NULL]::text[], now()
            FROM generate_series(1, 500) i
            """)
        try await pool.query(
            """
            INSERT INTO durable_history_pages (execution_id, event_types, details, dated)
            SELECT md5(i::text)::uuid, ARRAY['ExecutionStarted', 'InvocationCompleted'],
                   ARRAY['{"Name":"e' || i || '"}', '{"Suspended":true}'], ARRAY[NULL, NULL]::timestamptz[]
            FROM generate_series(1, 500) i
            """)
        try await pool.query("ANALYZE durable_executions, durable_operation_pages, durable_history_pages")
        let analyzed = try await pool.query(
            """
            SELECT tablename::text, attname::text FROM pg_stats
            WHERE schemaname = current_schema()
              AND tablename IN ('durable_executions', 'durable_operation_pages', 'durable_history_pages')
            ORDER BY 1, 2
            """
        ).decode((String, String).self)
        let byTable = Dictionary(grouping: analyzed, by: \.0).mapValues { $0.map(\.1) }
        #expect(
            byTable == [
                "durable_executions": [
                    "created_at", "ended_at", "error_type", "execution_id", "name", "status", "trace_parent", "updated_at",
                    "workflow",
                ],
                "durable_history_pages": ["at", "execution_id", "id"],
                "durable_operation_pages": ["at", "execution_id", "id"],
            ])
    }

    /// Statistics taken while no request was pending (everything decided, between two bursts), then a burst of pending
    /// requests: a decision's look-up of its request and the update that completes it still go by the primary key, in
    /// a plan made for the values (custom) and in one kept for any (generic), rather than scanning an index of every
    /// pending request for the key.
    @Test func aRequestIsLookedUpByItsKeyWhateverTheStatisticsSayIsPending() async throws {
        let pool = try await migratedDatabase("statistics-pending")
        _ = try await pool.query("ALTER TABLE approval_requests SET (autovacuum_enabled = false)")
        func fill(_ prefix: String, _ status: String, _ count: Int) async throws {
            _ = try await pool.query(
                """
                INSERT INTO approval_requests (request_id, execution_id, callback_id, status, amount, currency, description,
                    approvers, on_timeout, submitted_at, expires_at)
                SELECT \(prefix) || g, gen_random_uuid(), gen_random_uuid(), \(status), 1, 'USD', 'd', ARRAY['a@example.com'],
                    'reject', now(), now() + interval '1 hour'
                FROM generate_series(1, \(count)::integer) g
                """)
        }
        try await fill("DONE-", "approved", 8000)
        _ = try await pool.query("ANALYZE approval_requests")
        try await fill("P-", "pending", 3000)
        let lookup = ApprovalWriter.pendingRequestQuery("P-5")
        let complete = ApprovalWriter.completeQuery(
            requestId: "P-5", status: .approved, decidedBy: "a@example.com", decidedAt: Date(), channel: .link, comment: nil,
            response: nil, errorType: nil, errorMessage: nil, completedAt: Date(), onBehalfOf: nil)
        try await pool.withConnection { connection in
            for (name, query) in [("lookup", lookup), ("complete", complete)] {
                let custom = try await connection.query(query.prefixed(with: "EXPLAIN ")).column(String.self).joined()
                #expect(custom.contains("approval_requests_pkey"), "\(name), custom plan: \(custom)")
            }
            try await connection.execute(script: "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan")
            _ = try await connection.query(PostgresQuery(stringLiteral: "PREPARE lookup AS " + lookup.sql))
            _ = try await connection.query(PostgresQuery(stringLiteral: "PREPARE complete AS " + complete.sql))
            let lookupPlan = try await connection.query("EXPLAIN EXECUTE lookup('P-5')").column(String.self).joined()
            let completePlan = try await connection.query(
                "EXPLAIN EXECUTE complete('approved', NULL, NULL, NULL, NULL, NULL, NULL, now(), NULL, NULL, 'P-5', 'outcomes')"
            ).column(String.self).joined()
            try await connection.execute(script: "ROLLBACK; DEALLOCATE ALL")
            #expect(lookupPlan.contains("approval_requests_pkey"), "lookup, generic plan: \(lookupPlan)")
            #expect(completePlan.contains("approval_requests_pkey"), "complete, generic plan: \(completePlan)")
        }
    }

    private func migratedDatabase(_ name: String) async throws -> PostgresPool {
        let logger = TestEnvironment.logger(name)
        let pool = try await TestDatabase.create(name).pool(maxConnections: 2)
        try await GreenlightDatabase.migrate(pool, logger: logger)
        try await PostgresMigrator.migrate(
            pool, component: NotifierSchema.component, migrations: NotifierSchema.migrations, logger: logger)
        return pool
    }
}
