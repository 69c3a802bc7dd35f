@testable import DurableExecution
import Foundation
import GreenlightModels
import GreenlightTestSupport
import Kafka
import Logging
import Postgres
import Synchronization
import Testing

/// The relay publishes under a lease: one holder at a time, no transaction open while it waits for the broker,
/// and another relay takes over when the holder stops, while the old holder, fenced by its epoch, deletes nothing.
@Suite(.timeLimit(.minutes(2)))
struct OutboxRelayTests {
    let logger = TestEnvironment.logger("relay")

    func setUp() async throws -> (EngineHarness, KafkaMockCluster, KafkaProducer, String) {
        let harness = try await EngineHarness.make()
        let cluster = try KafkaMockCluster()
        let topic = TestEnvironment.uniqueName("outbox")
        try cluster.createTopic(topic, partitions: 1)
        var configuration = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)
        configuration.properties = OutboxRelay.producerProperties
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        return (harness, cluster, producer, topic)
    }

    func relay(
        _ harness: EngineHarness, _ producer: KafkaProducer, holder: String, lease: Duration = .seconds(2),
        pollInterval: Duration = .milliseconds(50), logger: Logger? = nil, vacuumAfter: Int? = nil
    ) -> OutboxRelay {
        OutboxRelay(
            pool: harness.pool, producer: producer, wakeUp: WakeUpSignal(), pollInterval: pollInterval, logger: logger ?? self.logger,
            lease: lease, standbyInterval: .milliseconds(100), holder: holder, vacuumAfter: vacuumAfter)
    }

    func enqueue(_ count: Int, topic: String, on pool: PostgresPool) async throws {
        try await pool.withConnection { connection in
            for index in 0..<count {
                try await Outbox.write(topic: topic, key: "k", payload: #"{"n":\#(index)}"#, trace: nil, on: connection)
            }
        }
    }

    func unsent(_ pool: PostgresPool) async throws -> Int {
        try await pool.query("SELECT count(*) FROM durable_outbox WHERE sent_at IS NULL").column(Int.self).first ?? -1
    }

    /// Every row, published or not: a published one is deleted, not kept marked sent.
    func rows(_ pool: PostgresPool) async throws -> Int {
        try await pool.query("SELECT count(*) FROM durable_outbox").column(Int.self).first ?? -1
    }

    /// How many times the outbox was vacuumed other than by autovacuum.
    func vacuums(_ pool: PostgresPool) async throws -> Int {
        try await pool.query("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'durable_outbox'")
            .column(Int.self).first ?? -1
    }

    /// What the relay deletes stays in the table and its indexes until a vacuum, and its reads grow slow over it: the
    /// relay vacuums the outbox itself each time it has deleted `vacuumAfter` rows, rather than wait for autovacuum's
    /// next look (at most once a minute).
    @Test func theRelayVacuumsTheOutboxOnceItHasDeletedEnoughRows() async throws {
        let (harness, cluster, producer, topic) = try await setUp()
        let relay = relay(harness, producer, holder: "relay-vacuum", vacuumAfter: 5)
        #expect(try await vacuums(harness.pool) == 0)
        try await whileHolding(relay, as: "relay-vacuum", on: harness.pool) {
            try await enqueue(3, topic: topic, on: harness.pool)
            try await waitUntil(timeout: .seconds(20), interval: .milliseconds(50)) { try await rows(harness.pool) == 0 }
            // Three deleted: not yet.
            #expect(try await vacuums(harness.pool) == 0)
            try await enqueue(3, topic: topic, on: harness.pool)
            try await waitUntil(timeout: .seconds(20), interval: .milliseconds(50)) {
                let left = try await rows(harness.pool)
                let vacuumed = try await vacuums(harness.pool)
                return left == 0 && vacuumed == 1
            }
        }
        let published = try await KafkaTopicReader.readAll(
            topic: topic, configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
        #expect(published.count == 6)
        await producer.shutdown()
    }

    @Test func oneHolderAtATimeAndAnExpiredLeasePassesOnFenced() async throws {
        let (harness, cluster, producer, topic) = try await setUp()
        let a = relay(harness, producer, holder: "relay-a")
        let b = relay(harness, producer, holder: "relay-b")
        let epochA = try #require(try await a.acquire())
        #expect(try await b.acquire() == nil)
        #expect(try await a.acquire() == epochA)

        // A stops renewing: once the lease has expired (by the database's clock), B takes it with a new epoch.
        try await harness.pool.query("UPDATE durable_outbox_lease SET expires_at = now() - interval '1 second'")
        let epochB = try #require(try await b.acquire())
        #expect(epochB == epochA + 1)
        #expect(try await a.acquire() == nil)

        // A comes back late with what it read before: it may publish, but it deletes nothing.
        try await enqueue(3, topic: topic, on: harness.pool)
        #expect(try await a.publishBatch(epoch: epochA) == nil)
        #expect(try await unsent(harness.pool) == 3)
        #expect(try await b.publishBatch(epoch: epochB) == 3)
        // What the holder published is gone from the table.
        #expect(try await rows(harness.pool) == 0)
        await producer.shutdown()
        withExtendedLifetime(cluster) {}
    }

    /// While the broker does not answer, the holder waits with no transaction and no row lock held, and keeps
    /// its lease; the rows go out, once each and in order, when the broker is back.
    @Test func waitingForTheBrokerHoldsNoTransactionAndKeepsTheLease() async throws {
        let (harness, cluster, producer, topic) = try await setUp()
        // Two seconds: on a machine busy with every other suite, a renewal can wait more than two thirds of one.
        let a = relay(harness, producer, holder: "relay-a", lease: .seconds(2))
        let b = relay(harness, producer, holder: "relay-b", lease: .seconds(2))
        try await enqueue(5, topic: topic, on: harness.pool)
        try await cluster.setBrokerDown(1)
        let epoch = try #require(try await a.acquire())
        let publishing = Task { try await a.publishBatch(epoch: epoch) }
        // Well past the lease's length: a's renewals keep b out.
        try await Task.sleep(for: .seconds(5))
        #expect(try await b.acquire() == nil)
        let open = try await harness.pool.query(
            """
            SELECT count(*) FROM pg_stat_activity
            WHERE datname = current_database() AND state LIKE 'idle in transaction%'
            """
        ).column(Int.self)
        #expect(open == [0])
        let locked = try await harness.pool.transaction { connection in
            try await connection.query("SELECT id FROM durable_outbox WHERE sent_at IS NULL FOR UPDATE NOWAIT").count
        }
        #expect(locked == 5)

        try await cluster.setBrokerUp(1)
        #expect(try await publishing.value == 5)
        #expect(try await unsent(harness.pool) == 0)
        let published = try await KafkaTopicReader.readAll(
            topic: topic, configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
        #expect(published.map { String(decoding: $0.value, as: UTF8.self) } == (0..<5).map { #"{"n":\#($0)}"# })
        await producer.shutdown()
    }

    /// A relay told to stop (its service shutting down) while the broker does not answer stops at once: its producer
    /// retries for ever, and a wait that ignored cancellation would hold the service up until it is killed. The rows
    /// stay for the next holder.
    @Test func aRelayStopsWhenCancelledWhileTheBrokerIsDown() async throws {
        let (harness, cluster, producer, topic) = try await setUp()
        let a = relay(harness, producer, holder: "relay-a")
        try await enqueue(3, topic: topic, on: harness.pool)
        try await cluster.setBrokerDown(1)
        let running = Task { try await a.run() }
        // The relay has read the rows and handed them to the producer, which waits for the broker.
        let waiting = try await eventually(timeout: .seconds(10), interval: .milliseconds(20)) { producer.unacknowledgedCount == 3 }
        running.cancel()
        try #require(waiting, "the relay never handed the rows to the producer")
        // At once, not never; the margin is for a busy machine.
        try await waitForEnd(of: running, within: .seconds(15))
        #expect(try await unsent(harness.pool) == 3)
        try await cluster.setBrokerUp(1)
        await producer.shutdown(timeout: .seconds(5))
    }

    /// A relay stopped while the broker has taken part of its batch deletes that part before it stops: the next
    /// holder publishes only what the broker did not take, not the whole batch again.
    @Test func aStoppingRelayDeletesWhatTheBrokerTook() async throws {
        let harness = try await EngineHarness.make()
        let cluster = try KafkaMockCluster(brokers: 2)
        let taken = TestEnvironment.uniqueName("outbox-taken")
        let waiting = TestEnvironment.uniqueName("outbox-waiting")
        for (topic, leader) in [(taken, Int32(1)), (waiting, Int32(2))] {
            try cluster.createTopic(topic, partitions: 1)
            try await cluster.setLeader(of: topic, partition: 0, to: leader)
        }
        var configuration = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)
        configuration.properties = OutboxRelay.producerProperties
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        try await cluster.setBrokerDown(2)
        try await enqueue(3, topic: taken, on: harness.pool)
        try await enqueue(3, topic: waiting, on: harness.pool)
        let running = Task { try await relay(harness, producer, holder: "relay-a").run() }
        // One batch of six: broker 1 took its three, and the three for broker 2 wait.
        let reader = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)
        let split = try await eventually(timeout: .seconds(15), interval: .milliseconds(50)) {
            let published = try await KafkaTopicReader.readAll(topic: taken, configuration: reader, logger: logger)
            return published.count == 3 && producer.unacknowledgedCount == 3
        }
        running.cancel()
        try #require(split, "the broker never took the first topic's rows while holding the second's")
        try await waitForEnd(of: running, within: .seconds(15))
        let left = try await harness.pool.query("SELECT topic FROM durable_outbox ORDER BY id").column(String.self)
        #expect(left == [waiting, waiting, waiting])
        try await cluster.setBrokerUp(2)
        await producer.shutdown(timeout: .seconds(5))
    }

    /// A stopping relay whose deletion the database does not answer (here another transaction holds the rows) waits
    /// for it a lease's length, not until the database answers: it stops, the deletion is cancelled, and the rows
    /// stay for the next holder.
    @Test func aStoppingRelayWaitsForItsDeletionALeaseAtMost() async throws {
        let (harness, cluster, producer, topic) = try await setUp()
        let stopping = relay(harness, producer, holder: "relay-a", lease: .seconds(1))
        let epoch = try #require(try await stopping.acquire())
        try await enqueue(2, topic: topic, on: harness.pool)
        let ids = try await harness.pool.query("SELECT id::text FROM durable_outbox ORDER BY id").column(String.self)
        try await harness.pool.withConnection { holding in
            try await holding.execute(script: "BEGIN")
            _ = try await holding.query("SELECT id FROM durable_outbox FOR UPDATE")
            let deleting = Task { await stopping.deleteWhileStopping(ids, epoch: epoch) }
            // Ends while the rows are still held: without its limit it would wait for this transaction.
            try await waitForEnd(of: deleting, within: .seconds(20))
            // The cancelled deletion has left the server before the rows are let go.
            let cancelled = try await eventually(timeout: .seconds(10), interval: .milliseconds(50)) {
                try await harness.pool.query(
                    """
                    SELECT count(*) FROM pg_stat_activity
                    WHERE datname = current_database() AND state = 'active' AND query LIKE 'DELETE FROM durable_outbox%'
                    """
                ).column(Int.self) == [0]
            }
            try await holding.execute(script: "ROLLBACK")
            try #require(cancelled, "the deletion was still running on the server after the relay stopped waiting for it")
        }
        #expect(try await rows(harness.pool) == 2)
        await producer.shutdown()
        withExtendedLifetime(cluster) {}
    }

    @Test func aRunningRelayTakesOverWhenTheHolderStops() async throws {
        let (harness, cluster, producer, topic) = try await setUp()
        let a = relay(harness, producer, holder: "relay-a", lease: .seconds(1))
        let b = relay(harness, producer, holder: "relay-b", lease: .seconds(1))
        _ = try #require(try await a.acquire())
        let standby = Task { try await b.run() }
        try await enqueue(4, topic: topic, on: harness.pool)
        // A never runs: its lease lapses and B publishes everything.
        let drained = try await eventually(timeout: .seconds(10), interval: .milliseconds(100)) {
            try await unsent(harness.pool) == 0
        }
        #expect(drained)
        let holder = try await harness.pool.query("SELECT holder FROM durable_outbox_lease").column(String.self)
        #expect(holder == ["relay-b"])
        standby.cancel()
        _ = try? await standby.value
        await producer.shutdown()
        withExtendedLifetime(cluster) {}
    }

    /// Waits at most `timeout` for `task` (a relay told to stop) to end.
    func waitForEnd<Failure: Error>(of task: Task<Void, Failure>, within timeout: Duration) async throws {
        let ended = Mutex(false)
        let watcher = Task {
            _ = await task.result
            ended.withLock { $0 = true }
        }
        try await waitUntil(timeout: timeout, interval: .milliseconds(20)) { ended.withLock { $0 } }
        await watcher.value
    }

    func leaseHolder(_ pool: PostgresPool) async throws -> String {
        try await pool.query("SELECT coalesce(holder, '') FROM durable_outbox_lease WHERE id = 1").column(String.self).first ?? ""
    }

    func leaseExpiry(_ pool: PostgresPool) async throws -> String {
        try await pool.query("SELECT coalesce(expires_at::text, '') FROM durable_outbox_lease WHERE id = 1").column(String.self).first ?? ""
    }

    /// Starts `relay`, runs `body` once it holds the lease (as `holder`), then stops it. When the relay itself failed,
    /// that is the error thrown.
    func whileHolding(
        _ relay: OutboxRelay, as holder: String, on pool: PostgresPool, fileID: String = #fileID, line: Int = #line,
        _ body: () async throws -> Void
    ) async throws {
        let running = Task { try await relay.run() }
        var failure: (any Error)?
        do {
            try await waitUntil(timeout: .seconds(10), interval: .milliseconds(20), fileID: fileID, line: line) {
                try await leaseHolder(pool) == holder
            }
            try await body()
        } catch {
            failure = error
        }
        running.cancel()
        if case .failure(let error) = await running.result, !(error is CancellationError) { throw error }
        if let failure { throw failure }
    }

    /// A pass follows every commit, so the holder does not ask for its lease on each: only once a third of its length
    /// has passed since it last asked. Passes in between publish under the epoch it holds.
    @Test func aHolderAsksForItsLeaseAgainOnlyOnceAThirdOfItHasPassed() async throws {
        let (harness, cluster, producer, topic) = try await setUp()
        let a = relay(harness, producer, holder: "relay-a", lease: .seconds(300))
        try await whileHolding(a, as: "relay-a", on: harness.pool) {
            try await enqueue(1, topic: topic, on: harness.pool)
            #expect(try await eventually(timeout: .seconds(10), interval: .milliseconds(20)) { try await unsent(harness.pool) == 0 })
            let expiry = try await leaseExpiry(harness.pool)
            for _ in 0..<4 {
                try await enqueue(2, topic: topic, on: harness.pool)
                #expect(try await eventually(timeout: .seconds(5), interval: .milliseconds(20)) { try await unsent(harness.pool) == 0 })
            }
            // Four more batches and many idle passes (one each 50 ms), well within 100 s: the lease was not asked for.
            #expect(try await leaseExpiry(harness.pool) == expiry)
        }
        await producer.shutdown()
        withExtendedLifetime(cluster) {}
    }

    /// An idle holder still asks in time, even polling far less often than its lease lasts: the lease's expiry moves
    /// on while nothing is published. (Had it waited its 30 s poll interval, the lease would have lapsed.)
    @Test func anIdleHolderKeepsItsLease() async throws {
        let (harness, cluster, producer, _) = try await setUp()
        let a = relay(harness, producer, holder: "relay-a", lease: .seconds(3), pollInterval: .seconds(30))
        try await whileHolding(a, as: "relay-a", on: harness.pool) {
            var expiries: Set<String> = [try await leaseExpiry(harness.pool)]
            // Asked for about every second: three renewals within the poll interval, however slow the machine.
            try await waitUntil(timeout: .seconds(25), interval: .milliseconds(100)) {
                expiries.insert(try await leaseExpiry(harness.pool))
                return expiries.count >= 4
            }
            #expect(try await leaseHolder(harness.pool) == "relay-a")
        }
        await producer.shutdown()
        withExtendedLifetime(cluster) {}
    }

    /// A holder that cannot reach its tables retries at the poll interval, not at once, also once the time to ask for
    /// its lease again has come (a third of the lease, here 0.5 s): a database that is down fails each attempt at once.
    @Test func aHolderWhoseDatabaseFailsRetriesAtThePollInterval() async throws {
        let (harness, cluster, producer, _) = try await setUp()
        let logs = CapturingLogHandler.Store()
        let a = relay(harness, producer, holder: "relay-a", lease: .milliseconds(1500), logger: logs.logger("relay"))
        try await whileHolding(a, as: "relay-a", on: harness.pool) {
            // Every statement of the relay now fails: the lease's table and the outbox are gone.
            try await harness.pool.query("ALTER TABLE durable_outbox_lease RENAME TO durable_outbox_lease_away")
            try await harness.pool.query("ALTER TABLE durable_outbox RENAME TO durable_outbox_away")
            func failures() -> Int { logs.all.filter { $0.message == "Publishing the outbox failed; retrying" }.count }
            try await waitUntil(timeout: .seconds(10), interval: .milliseconds(5)) { failures() >= 1 }
            let first = ContinuousClock.now
            try await waitUntil(timeout: .seconds(10), interval: .milliseconds(5)) { failures() >= 31 }
            // Thirty more attempts, each after a sleep of at least the poll interval (50 ms), well past the 0.5 s.
            #expect(ContinuousClock.now - first >= .milliseconds(1450))
        }
        await producer.shutdown()
        withExtendedLifetime(cluster) {}
    }

    /// A holder whose lease passed to another relay while it thought it held it (it had not asked yet) publishes what
    /// it read once, deletes nothing, and stands by: it does not publish the same rows again on every pass. When the
    /// lease is free again it takes it and publishes them once more, and deletes them.
    @Test func aHolderFencedOutStandsBy() async throws {
        let (harness, cluster, producer, topic) = try await setUp()
        let a = relay(harness, producer, holder: "relay-a", lease: .seconds(300))
        try await whileHolding(a, as: "relay-a", on: harness.pool) {
            try await harness.pool.query(
                "UPDATE durable_outbox_lease SET holder = 'relay-b', epoch = epoch + 1, expires_at = now() + interval '1 hour'")
            try await enqueue(1, topic: topic, on: harness.pool)
            let configuration = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)
            #expect(try await eventually(timeout: .seconds(10), interval: .milliseconds(50)) {
                try await !KafkaTopicReader.readAll(topic: topic, configuration: configuration, logger: logger).isEmpty
            })
            #expect(try await unsent(harness.pool) == 1)
            // B's lease ends: A takes it, publishes the row again and deletes it. Had A gone on publishing under the
            // epoch it remembered, the row would never be deleted and would go out on every pass.
            try await harness.pool.query("UPDATE durable_outbox_lease SET expires_at = now() - interval '1 second'")
            #expect(try await eventually(timeout: .seconds(10), interval: .milliseconds(50)) { try await unsent(harness.pool) == 0 })
            #expect(try await KafkaTopicReader.readAll(topic: topic, configuration: configuration, logger: logger).count == 2)
            #expect(try await leaseHolder(harness.pool) == "relay-a")
        }
        await producer.shutdown()
        withExtendedLifetime(cluster) {}
    }

    /// What a workflow emits carries the headers it gives and those of the engine's `MessageHeaders`, kept in the
    /// outbox row and published beside the trace's `traceparent`; an event the hook adds nothing to has none.
    @Test func headersTravelThroughTheOutboxBesideTheTraceparent() async throws {
        let (plain, cluster, producer, topic) = try await setUp()
        let engine = DurableEngine(workflows: [EmittingWorkflow()], logger: logger) { emittedOn, event in
            emittedOn == topic && (event as? [String: String])?["n"] != "3" ? ["x-from-engine": "engine"] : [:]
        }
        let harness = EngineHarness(pool: plain.pool, engine: engine, counter: RunCounter())
        let trace = TraceContext(traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        _ = try await harness.pool.transaction { connection in
            try await engine.start(EmittingWorkflow(), name: "emitting", input: topic, trace: trace, on: connection)
        }
        let epoch = try #require(try await relay(harness, producer, holder: "relay-a").acquire())
        #expect(try await relay(harness, producer, holder: "relay-a").publishBatch(epoch: epoch) == 3)

        let published = try await KafkaTopicReader.readAll(
            topic: topic, configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
        func headers(_ message: KafkaMessage) -> [String: String] {
            Dictionary(message.headers.map { ($0.name, String(decoding: $0.value ?? [], as: UTF8.self)) }) { a, _ in a }
        }
        let traceparent = try #require(trace?.traceparent)
        #expect(published.map(headers) == [
            ["traceparent": traceparent, "x-from-engine": "engine", "x-given": "given"],
            ["traceparent": traceparent, "x-from-engine": "engine"],
            ["traceparent": traceparent],
        ])
        // The trace's header comes first, then the others by name.
        #expect(published.first?.headers.map(\.name) == ["traceparent", "x-from-engine", "x-given"])
        await producer.shutdown()
    }

    /// The relay reads on from above what it published (the index entries of published rows stay until vacuum), but
    /// never past a row still being written: one whose transaction is open while later rows are published is read
    /// once it commits, with no read from the beginning to find it. (The floor waits for every transaction of the
    /// database server that was running when it took its note, other tests' too: hence the waits, not a fixed number
    /// of passes.)
    @Test func readsStartAboveWhatWasPublishedButNotPastARowStillBeingWritten() async throws {
        let (harness, cluster, producer, topic) = try await setUp()
        let a = relay(harness, producer, holder: "relay-a")
        var lease = OutboxRelay.HeldLease(epoch: try #require(try await a.acquire()), askedAt: .now)
        // Reads from the beginning only the first time (not again within the test).
        var floor = OutboxRelay.ReadFloor(settleTime: .milliseconds(100), fullReadInterval: .seconds(3600))
        /// Passes until the floor reaches `target` (or the time is up); how many rows they published.
        func passes(until target: Int64, for limit: Duration = .seconds(45)) async throws -> Int {
            let end = ContinuousClock.now + limit
            var published = 0
            repeat {
                published += try #require(try await a.publishBatch(under: &lease, floor: &floor))
                if floor.floor >= target { break }
                try await Task.sleep(for: .milliseconds(100))
            } while ContinuousClock.now < end
            return published
        }

        try await enqueue(3, topic: topic, on: harness.pool)
        #expect(try await passes(until: 3) == 3)
        #expect(floor.floor == 3)

        // A fourth row is written in a transaction that stays open while three more are written and published; for
        // the next two seconds (twenty times what a note waits) the floor stays below it.
        let writer = try await PostgresConnection.connect(harness.pool.configuration)
        try await writer.execute(script: "BEGIN")
        try await Outbox.write(topic: topic, key: "k", payload: #"{"n":"late"}"#, trace: nil, on: writer)
        try await enqueue(3, topic: topic, on: harness.pool)
        #expect(try await passes(until: 7, for: .seconds(2)) == 3)
        #expect(floor.floor == 3)

        // Committed, it is read from the floor, and the floor then rises past everything published.
        try await writer.execute(script: "COMMIT")
        #expect(try await passes(until: 7) == 1)
        #expect(floor.floor == 7)
        #expect(try await rows(harness.pool) == 0)
        let published = try await KafkaTopicReader.readAll(
            topic: topic, configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers), logger: logger)
        #expect(published.count == 7)
        #expect(published.contains { String(decoding: $0.value, as: UTF8.self) == #"{"n":"late"}"# })
        await producer.shutdown()
    }

    /// How the floor moves: only to numbers whose transactions have ended, never past a row that failed to publish,
    /// and a read from the beginning once every interval.
    @Test func theReadFloorRisesOnlyToSettledNumbers() {
        let t0 = ContinuousClock.now
        var floor = OutboxRelay.ReadFloor(settleTime: .seconds(1), fullReadInterval: .seconds(10))
        #expect(floor.start(at: t0) == 0)
        // Numbers up to 10 handed out; a second later transaction 500 is the first not started, and 480 still runs.
        floor.observe(lastNumber: 10, oldestRunning: 400, nextTransaction: 450, at: t0)
        floor.observe(lastNumber: 12, oldestRunning: 480, nextTransaction: 500, at: t0 + .seconds(1))
        floor.published(ids: [11, 12], limit: 100, firstFailed: nil)
        #expect(floor.floor == 0)
        // Once every transaction before 500 has ended, 10 is settled (12 is not yet: noted only just now).
        floor.observe(lastNumber: 12, oldestRunning: 500, nextTransaction: 510, at: t0 + .seconds(1.5))
        floor.published(ids: [], limit: 100, firstFailed: nil)
        #expect(floor.floor == 10)
        #expect(floor.start(at: t0 + .seconds(2)) == 10)
        // A full batch moves the floor no further than its last row; a failed row keeps it below that row.
        floor.observe(lastNumber: 40, oldestRunning: 510, nextTransaction: 520, at: t0 + .seconds(2.5))
        floor.observe(lastNumber: 40, oldestRunning: 520, nextTransaction: 530, at: t0 + .seconds(3.5))
        #expect(floor.settled == 12)
        floor.observe(lastNumber: 40, oldestRunning: 530, nextTransaction: 530, at: t0 + .seconds(4.6))
        #expect(floor.settled == 40)
        floor.published(ids: [13, 14, 15], limit: 3, firstFailed: nil)
        #expect(floor.floor == 15)
        floor.published(ids: [16, 17, 18], limit: 100, firstFailed: 17)
        #expect(floor.floor == 16)
        // The beginning again after the interval, and after another relay held the lease.
        #expect(floor.start(at: t0 + .seconds(10)) == 0)
        #expect(floor.start(at: t0 + .seconds(11)) == 16)
        floor.restart()
        #expect(floor.floor == 0)
        #expect(floor.start(at: t0 + .seconds(12)) == 0)

        // A transaction open for a long time holds everything back, with a bounded number of notes kept meanwhile;
        // once it ends, the newest note that has waited its second settles.
        for second in 0..<1000 {
            floor.observe(lastNumber: 100 + Int64(second), oldestRunning: 600, nextTransaction: 700 + Int64(second), at: t0 + .seconds(20 + second))
        }
        #expect(floor.noteCount <= OutboxRelay.ReadFloor.maxNotes)
        #expect(floor.settled == 40)
        floor.observe(lastNumber: 1100, oldestRunning: 1700, nextTransaction: 1700, at: t0 + .seconds(1020))
        #expect(floor.settled == 1099)
    }
}

/// Emits three events on the topic it is given: one with a header of its own, two from a step.
private struct EmittingWorkflow: Workflow {
    static let name = "test.emitting"

    func run(context: DurableContext, input topic: String) async throws -> String {
        try await context.emit(topic: topic, key: "k", event: ["n": "1"], headers: ["x-given": "given"])
        return try await context.step("emit-more") { step in
            try await step.emit(topic: topic, key: "k", event: ["n": "2"])
            try await step.emit(topic: topic, key: "k", event: ["n": "3"])
            return "done"
        }
    }
}
