import Foundation
import GreenlightTestSupport
import Postgres
import Testing

/// LISTEN/NOTIFY through `PostgresListener`: delivery by payload on commit, waits that end (cancelled, stopped, a
/// full listener), and a listener that reconnects when its backend is terminated.
@Suite(.timeLimit(.minutes(1)))
struct PostgresListenerTests {
    static let channel = "test_events"

    @Test func deliversANotificationToTheSubscriptionsOfItsPayloadOnly() async throws {
        try await withListener { listener, pool in
            try await listener.withSubscription(to: "a") { a in
                try await listener.withSubscription(to: "b") { b in
                    try await notify("b", on: pool)
                    #expect(await b.next(timeout: .seconds(10)) == .notified)
                    // b's notification has been handed out (by the one thread that hands out every notification):
                    // a got nothing then, so it has nothing waiting now.
                    #expect(await a.next(timeout: .milliseconds(200)) == .timedOut)

                    // A notification that arrives while nobody waits is kept for the next wait.
                    try await notify("a", on: pool)
                    try await notify("b", on: pool)
                    #expect(await b.next(timeout: .seconds(10)) == .notified)
                    #expect(await a.next(timeout: .milliseconds(1)) == .notified)
                }
            }
            #expect(listener.subscriptionCount == 0)
        }
    }

    @Test func onlyACommittedNotifyWakes() async throws {
        try await withListener { listener, pool in
            try await listener.withSubscription(to: "c") { c in
                _ = try? await pool.transaction { connection in
                    try await connection.query("SELECT pg_notify(\(Self.channel), 'c')")
                    throw RolledBack()
                }
                try await listener.withSubscription(to: "marker") { marker in
                    try await notify("marker", on: pool)
                    #expect(await marker.next(timeout: .seconds(10)) == .notified)
                }
                // The marker, sent after the rollback, has arrived: the rolled-back notification never will.
                #expect(await c.next(timeout: .milliseconds(200)) == .timedOut)
                _ = try await pool.transaction { connection in
                    try await connection.query("SELECT pg_notify(\(Self.channel), 'c')")
                }
                #expect(await c.next(timeout: .seconds(10)) == .notified)
            }
        }
    }

    @Test func aCancelledWaitEndsAtOnceAndLeavesNoSubscription() async throws {
        try await withListener { listener, _ in
            let started = ContinuousClock.now
            let waiting = Task {
                try await listener.withSubscription(to: "d") { await $0.next(timeout: .seconds(50)) }
            }
            try await waitUntil { listener.subscriptionCount == 1 }
            waiting.cancel()
            #expect(try await waiting.value == .closed)
            #expect(ContinuousClock.now - started < .seconds(10))
            #expect(listener.subscriptionCount == 0)
        }
    }

    @Test func aFullListenerRefusesMoreSubscriptionsUntilOneEnds() async throws {
        try await withListener(maxSubscriptions: 1) { listener, _ in
            try await listener.withSubscription(to: "e") { _ in
                do {
                    try await listener.withSubscription(to: "f") { _ in _ = Issue.record("a second subscription was made") }
                } catch let error as PostgresError {
                    #expect(error.code == .tooManySubscriptions)
                }
            }
            try await listener.withSubscription(to: "f") { _ in #expect(listener.subscriptionCount == 1) }
        }
    }

    @Test func stoppingTheListenerWakesEveryWaiter() async throws {
        let database = try await TestDatabase.create("listen")
        let listener = PostgresListener(
            configuration: try PostgresConfiguration(url: database.url), channel: Self.channel,
            logger: TestEnvironment.logger("listener"))
        let running = Task { await listener.run() }
        // Listening first: a listener that connects wakes every waiter (`.reconnected`).
        try await waitUntil { listener.isListening }
        let waiting = Task { try await listener.withSubscription(to: "g") { await $0.next(timeout: .seconds(50)) } }
        try await waitUntil { listener.subscriptionCount == 1 }
        running.cancel()
        await running.value
        #expect(try await waiting.value == .closed)
        #expect(!listener.isListening)
        // Once stopped, a subscription is closed from the start.
        #expect(try await listener.withSubscription(to: "h") { await $0.next(timeout: .seconds(50)) } == .closed)
    }

    @Test func reconnectsWhenItsBackendIsTerminatedAndWakesEveryWaiter() async throws {
        try await withListener { listener, pool in
            try await listener.withSubscription(to: "i") { subscription in
                let terminated = try await pool.query(
                    """
                    SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                    WHERE datname = current_database() AND application_name = 'greenlight-listener'
                    """
                ).count
                #expect(terminated == 1)
                // What was notified while it was gone is lost: every waiter is told to read again.
                #expect(await subscription.next(timeout: .seconds(20)) == .reconnected)
                // Said just before the listener marks itself listening, so that turns true a moment later.
                try await waitUntil(timeout: .seconds(5)) { listener.isListening }
                try await notify("i", on: pool)
                #expect(await subscription.next(timeout: .seconds(10)) == .notified)
            }
        }
    }

    @Test func oneListenerOnTwoChannelsWakesAPayloadsSubscriptionFromEither() async throws {
        let database = try await TestDatabase.create("listen")
        let pool = try database.pool()
        defer { pool.close() }
        let other = "greenlight_test_other"
        let listener = PostgresListener(
            configuration: try PostgresConfiguration(url: database.url), channels: [Self.channel, other],
            logger: TestEnvironment.logger("listener"))
        let running = Task { await listener.run() }
        defer { running.cancel() }
        try await waitUntil { listener.isListening }
        try await listener.withSubscription(to: "j") { subscription in
            try await pool.query("SELECT pg_notify(\(other), 'j')")
            #expect(await subscription.next(timeout: .seconds(10)) == .notified)
            try await notify("j", on: pool)
            #expect(await subscription.next(timeout: .seconds(10)) == .notified)
            // A channel it does not listen on wakes nothing.
            try await pool.query("SELECT pg_notify('greenlight_test_unheard', 'j')")
            #expect(await subscription.next(timeout: .milliseconds(300)) == .timedOut)
        }
    }

    // MARK: - Support

    /// A listener on a database of its own, running and listening, with a pool to notify through.
    private func withListener(
        maxSubscriptions: Int = 100, _ body: (PostgresListener, PostgresPool) async throws -> Void
    ) async throws {
        let database = try await TestDatabase.create("listen")
        let pool = try database.pool()
        defer { pool.close() }
        let listener = PostgresListener(
            configuration: try PostgresConfiguration(url: database.url), channel: Self.channel,
            maxSubscriptions: maxSubscriptions, logger: TestEnvironment.logger("listener"))
        let running = Task { await listener.run() }
        defer { running.cancel() }
        try await waitUntil { listener.isListening }
        try await body(listener, pool)
    }

    private func notify(_ payload: String, on pool: PostgresPool) async throws {
        try await pool.query("SELECT pg_notify(\(Self.channel), \(payload))")
    }
}

private struct RolledBack: Error {}
