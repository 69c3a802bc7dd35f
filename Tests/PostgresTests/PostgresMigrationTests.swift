import GreenlightTestSupport
import Postgres
import Testing

@Suite(.timeLimit(.minutes(1)))
struct PostgresMigrationTests {
    let migrations = [
        PostgresMigration(version: 1, name: "create widgets", sql: "CREATE TABLE widgets (id int PRIMARY KEY)"),
        PostgresMigration(version: 2, name: "add name", sql: "ALTER TABLE widgets ADD COLUMN name text; INSERT INTO widgets VALUES (1, 'first')"),
    ]

    @Test func migrationsApplyOnceAndAreRecorded() async throws {
        let pool = try await TestDatabase.create("migrate").pool()
        defer { pool.close() }
        let logger = TestEnvironment.logger("migrate")
        #expect(try await PostgresMigrator.migrate(pool, component: "widgets", migrations: migrations, logger: logger) == [1, 2])
        #expect(try await PostgresMigrator.migrate(pool, component: "widgets", migrations: migrations, logger: logger) == [])
        let recorded = try await pool.query(
            "SELECT version FROM greenlight_migrations WHERE component = \("widgets") ORDER BY version"
        ).column(Int.self)
        #expect(recorded == [1, 2])
        #expect(try await pool.query("SELECT count(*) FROM widgets").column(Int.self) == [1])
    }

    @Test func servicesStartingAtOnceApplyEachMigrationExactlyOnce() async throws {
        let database = try await TestDatabase.create("race")
        let logger = TestEnvironment.logger("migrate")
        let pools = try (0..<4).map { _ in try database.pool(maxConnections: 1) }
        defer { pools.forEach { $0.close() } }
        let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
            for pool in pools {
                group.addTask {
                    try await PostgresMigrator.migrate(pool, component: "widgets", migrations: migrations, logger: logger)
                }
            }
            return try await group.reduce(into: [Int]()) { $0 += $1 }
        }
        #expect(applied.sorted() == [1, 2])
        #expect(try await pools[0].query("SELECT count(*) FROM widgets").column(Int.self) == [1])
    }

    @Test func aFailingMigrationLeavesNothingBehind() async throws {
        let pool = try await TestDatabase.create("broken").pool()
        defer { pool.close() }
        let broken = [
            PostgresMigration(version: 1, name: "half", sql: "CREATE TABLE half (id int); SELECT no_such_function()")
        ]
        await #expect(throws: PostgresError.self) {
            try await PostgresMigrator.migrate(pool, component: "broken", migrations: broken, logger: TestEnvironment.logger("m"))
        }
        let tables = try await pool.query("SELECT count(*) FROM pg_tables WHERE tablename = 'half'").column(Int.self)
        #expect(tables == [0])
    }
}
