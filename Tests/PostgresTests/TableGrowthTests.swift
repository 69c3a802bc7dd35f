import Foundation
import GreenlightTestSupport
import Postgres
import Testing

@Suite(.timeLimit(.minutes(1)))
struct TableGrowthTests {
    /// The tables are analyzed after the first 200 counted, then each time those counted since are at least as many as
    /// all counted before.
    @Test func theTablesAreAnalyzedAsTheyDouble() {
        let growth = TableGrowth(tables: ["t"])
        #expect(!growth.inserted(199))
        #expect(growth.inserted(1))
        #expect(!growth.inserted(199))
        #expect(growth.inserted(1))  // 400
        #expect(!growth.inserted(399))
        #expect(growth.inserted(500))  // 1,299
        #expect(!growth.inserted(1_298))
        #expect(growth.inserted(1))  // 2,598
    }

    /// Counting never analyzes (the caller, a consumer's lane, goes on at once); the renewal task does, once for all
    /// that fell due before it got to them, and ends when cancelled.
    @Test func countingLeavesTheAnalyzeToTheRenewal() async throws {
        let pool = try await TestDatabase.create("growth-renewal").pool(maxConnections: 2)
        try await pool.query("CREATE TABLE counted (id int PRIMARY KEY) WITH (autovacuum_enabled = false)")
        try await pool.query("INSERT INTO counted SELECT generate_series(1, 500)")
        func analyzed() async throws -> Int {
            try await pool.query("SELECT coalesce(analyze_count, 0)::int FROM pg_stat_user_tables WHERE relname = 'counted'")
                .column(Int.self).first ?? -1
        }
        func tuples() async throws -> Int {
            try await pool.query("SELECT reltuples::int FROM pg_class WHERE relname = 'counted'").column(Int.self).first ?? 0
        }
        let growth = TableGrowth(tables: ["counted"], first: 10)
        growth.count(10)
        growth.count(10)
        #expect(try await tuples() == -1, "counting analyzed the table")
        let renewal = Task { await growth.renewWhenDue(on: pool, logger: TestEnvironment.logger("growth")) }
        let renewed = try await eventually(timeout: .seconds(10), interval: .milliseconds(50)) { try await tuples() == 500 }
        #expect(renewed)
        // The two found due before the renewal ran are one ANALYZE.
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await analyzed() == 1)
        renewal.cancel()
        await renewal.value
    }

    /// A table whose lock the ANALYZE cannot have at once (an anti-wraparound autovacuum holds it, say) is skipped,
    /// not waited for; the others are analyzed.
    @Test func aTableThatIsLockedIsSkippedNotWaitedFor() async throws {
        let pool = try await TestDatabase.create("growth").pool(maxConnections: 2)
        for table in ["held", "free"] {
            try await pool.query(PostgresQuery(stringLiteral: "CREATE TABLE \(table) (id int PRIMARY KEY) WITH (autovacuum_enabled = false)"))
            try await pool.query(PostgresQuery(stringLiteral: "INSERT INTO \(table) SELECT generate_series(1, 500)"))
        }
        let growth = TableGrowth(tables: ["held", "free"])
        let logger = TestEnvironment.logger("growth")
        try await pool.withConnection { holder in
            try await holder.execute(script: "BEGIN")
            try await holder.execute(script: "LOCK TABLE held IN SHARE UPDATE EXCLUSIVE MODE")
            try await pool.withConnection { connection in
                // Whatever happens, the holder lets go after 10 s, so a wait that does not end by itself still ends.
                let release = Task {
                    try await Task.sleep(for: .seconds(10))
                    try await holder.execute(script: "COMMIT")
                }
                let started = ContinuousClock.now
                await growth.analyze(on: connection, logger: logger)
                let waited = ContinuousClock.now - started
                release.cancel()
                _ = await release.result
                #expect(waited < .seconds(5), "the ANALYZE waited \(waited) for the held table")
            }
            try? await holder.execute(script: "COMMIT")
        }
        let tuples = try await pool.query("SELECT relname, reltuples::int FROM pg_class WHERE relname IN ('held', 'free') ORDER BY relname")
            .decode((String, Int).self)
        #expect(tuples.map(\.0) == ["free", "held"])
        #expect(tuples.map(\.1) == [500, -1])
    }

    /// Its ANALYZE samples a tenth of what a full one would and keeps as much less, on every table: enough to plan a
    /// lookup by key, and cheaper by more than half on the tables an approval fills. Each table is analyzed in a
    /// transaction of its own (its lock let go when it is done), and the session's own target is left as it was.
    @Test func anAnalyzeKeepsATenthOfTheStatistics() async throws {
        let pool = try await TestDatabase.create("growth-target").pool(maxConnections: 1)
        for table in ["sampled", "also_sampled"] {
            try await pool.query(PostgresQuery(stringLiteral: "CREATE TABLE \(table) (id int PRIMARY KEY, at int NOT NULL) WITH (autovacuum_enabled = false)"))
            try await pool.query(PostgresQuery(stringLiteral: "INSERT INTO \(table) SELECT n, n FROM generate_series(1, 5000) AS n"))
        }
        let logger = TestEnvironment.logger("growth")
        let bounds = """
            SELECT tablename, array_length(histogram_bounds, 1) FROM pg_stats WHERE attname = 'at'
            AND tablename IN ('sampled', 'also_sampled') ORDER BY tablename
            """
        let tuples = "SELECT reltuples::int FROM pg_class WHERE relname IN ('sampled', 'also_sampled')"
        try await pool.withConnection { connection in
            await TableGrowth(tables: ["sampled", "also_sampled"]).analyze(on: connection, logger: logger)
            let kept = try await connection.query(PostgresQuery(stringLiteral: bounds)).decode((String, Int).self)
            #expect(kept.map(\.0) == ["also_sampled", "sampled"] && kept.map(\.1) == [11, 11])
            #expect(try await connection.query(PostgresQuery(stringLiteral: tuples)).decode(Int.self) == [5000, 5000])
            #expect(try await connection.query("SHOW default_statistics_target").decode(String.self) == ["100"])
            try await connection.execute(script: "ANALYZE sampled")
            let full = try await connection.query(PostgresQuery(stringLiteral: bounds)).decode((String, Int).self)
            #expect(full.map(\.1) == [11, 101])
        }
    }
}
