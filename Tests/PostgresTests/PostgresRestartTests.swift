import Foundation
import GreenlightTestSupport
import Postgres
import Testing

/// Uses a Postgres server of its own (scripts/test starts it) because it restarts it; one test at a time, since each
/// restarts it.
@Suite(.serialized, .timeLimit(.minutes(2)))
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

    @Test func listenerReconnectsAfterTheServerRestartsAndWakesItsWaiters() async throws {
        let database = try await TestDatabase.create("restart_listen", serverVariable: "GREENLIGHT_TEST_RESTARTABLE_DATABASE_URL")
        let restart = try TestEnvironment.required("GREENLIGHT_TEST_PG_RESTART")
        let pool = try database.pool(maxConnections: 1)
        defer { pool.close() }
        let listener = PostgresListener(
            configuration: try PostgresConfiguration(url: database.url), channel: "restart_events",
            logger: TestEnvironment.logger("listener"))
        let running = Task { await listener.run() }
        defer { running.cancel() }
        try await waitUntil { listener.isListening }

        try await listener.withSubscription(to: "x") { subscription in
            #expect(try await ChildProcess.shell(restart) == 0)
            // Notifications sent while the server was down could not reach it: the waiter is told to read again.
            #expect(await subscription.next(timeout: .seconds(30)) == .reconnected)
            // `.reconnected` is said just before the listener marks itself listening (so that whoever subscribes after
            // seeing it hears notifications only): it turns true a moment later, not necessarily by now.
            try await waitUntil(timeout: .seconds(5)) { listener.isListening }
            // And it listens again.
            try await waitUntil(timeout: .seconds(30), interval: .milliseconds(100)) {
                (try? await pool.query("SELECT pg_notify('restart_events', 'x')")) != nil
            }
            #expect(await subscription.next(timeout: .seconds(10)) == .notified)
        }
    }
}
