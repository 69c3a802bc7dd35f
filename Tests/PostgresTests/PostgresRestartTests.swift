import Foundation
import GreenlightTestSupport
import Postgres
import Testing

/// Uses a Postgres server of its own (scripts/test starts it) because it restarts it.
@Suite(.timeLimit(.minutes(2)))
struct PostgresRestartTests {
    @Test func poolReconnectsAfterTheServerRestartsMidway() async throws {
        let database = try await TestDatabase.create("restart", serverVariable: "GREENLIGHT_TEST_RESTARTABLE_DATABASE_URL")
        let restart = try TestEnvironment.required("GREENLIGHT_TEST_PG_RESTART")
        let pool = try database.pool(maxConnections: 3)
        defer { pool.close() }
        try await pool.query("CREATE TABLE events (id int PRIMARY KEY)")
        for id in 1...3 { try await pool.query("INSERT INTO events VALUES (\(id))") }

        #expect(try await ChildProcess.shell(restart) == 0)

        // The pooled connections died with the old server: each failure is a typed, retryable error, and the pool
        // recovers without being rebuilt.
        var failures: [PostgresError.Code] = []
        let recovered = try await eventually(timeout: .seconds(30), interval: .milliseconds(100)) {
            do {
                try await pool.query("INSERT INTO events VALUES (\(4))")
                return true
            } catch let error as PostgresError {
                failures.append(error.code)
                return false
            }
        }
        #expect(recovered)
        #expect(failures.allSatisfy { $0 == .connectionLost || $0 == .connectionFailed }, "\(failures)")
        #expect(try await pool.query("SELECT count(*) FROM events").column(Int.self) == [4])
    }
}
