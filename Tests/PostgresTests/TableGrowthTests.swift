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

    /// An ANALYZE that cannot have its table's lock (an anti-wraparound autovacuum holds it, say) gives up within
    /// about a second instead of holding up its caller, and leaves the connection's lock timeout as it was.
    @Test func anAnalyzeThatCannotHaveItsLockGivesUpWithinASecond() async throws {
        let pool = try await TestDatabase.create("growth").pool(maxConnections: 2)
        try await pool.query("CREATE TABLE t (id int PRIMARY KEY)")
        try await pool.query("INSERT INTO t SELECT generate_series(1, 500)")
        let growth = TableGrowth(tables: ["t"])
        let logger = TestEnvironment.logger("growth")
        try await pool.withConnection { holder in
            try await holder.execute(script: "BEGIN")
            try await holder.execute(script: "LOCK TABLE t IN SHARE UPDATE EXCLUSIVE MODE")
            let waited = try await pool.withConnection { connection in
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
                let lockTimeout = try await connection.query("SHOW lock_timeout").column(String.self)
                #expect(lockTimeout == ["0"])
                return waited
            }
            try? await holder.execute(script: "COMMIT")
            #expect(waited >= .milliseconds(900) && waited < .seconds(5), "gave up after \(waited)")
        }
        // With the lock free, the statistics are renewed.
        try await pool.withConnection { await growth.analyze(on: $0, logger: logger) }
        #expect(try await pool.query("SELECT reltuples::int FROM pg_class WHERE relname = 't'").column(Int.self) == [500])
    }
}
