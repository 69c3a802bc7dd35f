import ApprovalStore
import DurableExecution
import Foundation
import GreenlightTestSupport
import Postgres
import Testing

/// The orchestrator's tables have one owner, which migrates them; intake and the callback receiver wait for that and
/// run with a role that may only read them and add to the outbox.
struct DatabaseOwnershipTests {
    let logger = TestEnvironment.logger("ownership")

    @Test func aServiceThatDoesNotOwnTheSchemaWaitsForItsOwner() async throws {
        let database = try await TestDatabase.create("ownership")
        let pool = try database.pool()
        defer { pool.close() }
        do {
            try await GreenlightDatabase.requireCurrent(pool, logger: logger)
            Issue.record("an empty database passed for a current one")
        } catch let error as SchemaNotCurrent {
            #expect(error.applied == 0)
            #expect(error.description.contains("greenlight migrate"))
        }
        try await GreenlightDatabase.migrate(pool, logger: logger)
        try await GreenlightDatabase.requireCurrent(pool, logger: logger)
    }

    /// A role granted the history before history pages reads the history's view after the upgrade, with no new grant.
    @Test func aReaderOfTheHistoryReadsItsPagesAfterTheUpgrade() async throws {
        // What an earlier `greenlight migrate --grant-readers` granted on the engine's tables.
        try await expectReadAfterUpgrade(
            from: 10, granted: "durable_executions, durable_history", reading: "durable_history_events")
    }

    /// A role granted the checkpoints before checkpoint pages reads the view in the table's place after the upgrade.
    @Test func aReaderOfTheCheckpointsReadsTheirViewAfterTheUpgrade() async throws {
        try await expectReadAfterUpgrade(from: 12, granted: "durable_operations", reading: "durable_operations")
    }

    /// Migrates the engine's tables to just before `version`, grants a new role SELECT on `granted`, migrates the rest,
    /// and expects the role to read `reading` (empty) with no grant of its own.
    private func expectReadAfterUpgrade(from version: Int, granted: String, reading: String) async throws {
        let database = try await TestDatabase.create("ownership")
        let owner = try database.pool()
        defer { owner.close() }
        try await PostgresMigrator.migrate(
            owner, component: DurableSchema.component, migrations: DurableSchema.migrations.filter { $0.version < version },
            logger: logger)
        let reader = try await database.makeRole("reader")
        try await owner.withConnection { try await $0.execute(script: "GRANT SELECT ON \(granted) TO \"\(reader.role)\"") }
        try await GreenlightDatabase.migrate(owner, logger: logger)

        let pool = PostgresPool(configuration: try PostgresConfiguration(url: reader.url), maxConnections: 1, logger: logger)
        defer { pool.close() }
        #expect(try await pool.query(PostgresQuery(stringLiteral: "SELECT count(*) FROM \(reading)")).column(Int.self) == [0])
    }

    @Test func theReadersRoleReadsAndQueuesEventsAndNothingElse() async throws {
        let database = try await TestDatabase.create("ownership")
        let owner = try database.pool()
        defer { owner.close() }
        try await GreenlightDatabase.migrate(owner, logger: logger)
        let reader = try await database.makeRole("reader")
        try await GreenlightDatabase.grantReaderAccess(to: reader.role, on: owner)
        for bad in ["x; DROP TABLE y", "public", "current_user"] {
            await #expect(throws: InvalidRoleName.self) { try await GreenlightDatabase.grantReaderAccess(to: bad, on: owner) }
        }

        let pool = PostgresPool(configuration: try PostgresConfiguration(url: reader.url), maxConnections: 1, logger: logger)
        defer { pool.close() }
        try await GreenlightDatabase.requireCurrent(pool, logger: logger)
        #expect(try await pool.query("SELECT count(*) FROM approval_requests").column(Int.self) == [0])
        #expect(try await pool.query("SELECT count(*) FROM durable_history_events").column(Int.self) == [0])
        try await pool.withConnection { connection in
            try await Outbox.write(topic: "t", key: "k", payload: "{}", trace: nil, on: connection)
        }
        for statement in [
            "CREATE TABLE intruder (id int)", "UPDATE approval_requests SET status = 'approved'",
            "DELETE FROM durable_outbox", "UPDATE durable_outbox SET sent_at = now()", "SELECT * FROM durable_signals",
            "INSERT INTO durable_signals (execution_name, payload, received_at) VALUES ('x', '{}', now())",
        ] {
            do {
                try await pool.withConnection { try await $0.execute(script: statement) }
                Issue.record("the reader's role could run: \(statement)")
            } catch let error as PostgresError {
                #expect(error.sqlState == "42501", "\(statement): \(error)")
            }
        }
    }
}
