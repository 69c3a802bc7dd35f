import Foundation
import GreenlightModels
import Kafka
import Logging
import Postgres

/// Publishes outbox rows with the idempotent producer, oldest first, and marks them sent. A row is marked only
/// after the broker acknowledged it, so a crash in between publishes it again (consumers dedupe on `eventId`);
/// rows are locked while published (`SKIP LOCKED`), so two relays never publish the same row at once.
public struct OutboxRelay: Sendable {
    let pool: PostgresPool
    let producer: KafkaProducer
    let wakeUp: WakeUpSignal
    let pollInterval: Duration
    let logger: Logger
    let batchSize: Int

    public init(
        pool: PostgresPool, producer: KafkaProducer, wakeUp: WakeUpSignal, pollInterval: Duration, logger: Logger,
        batchSize: Int = 500
    ) {
        self.pool = pool
        self.producer = producer
        self.wakeUp = wakeUp
        self.pollInterval = pollInterval
        self.logger = logger
        self.batchSize = batchSize
    }

    /// The advisory lock only the publishing relay holds.
    static let lockKey: Int64 = 0x6f75_7462_6f78  // "outbox"

    public func run() async throws {
        var lastPrune = ContinuousClock.now
        while !Task.isCancelled {
            let published: Int
            do {
                published = try await publishBatch()
            } catch is CancellationError {
                return
            } catch {
                logger.warning("Publishing the outbox failed; retrying", metadata: ["error": "\(error)"])
                published = 0
                try? await Task.sleep(for: pollInterval)
            }
            if ContinuousClock.now - lastPrune > .seconds(60) {
                lastPrune = ContinuousClock.now
                _ = try? await pool.query(
                    "DELETE FROM durable_outbox WHERE sent_at < \(Date().addingTimeInterval(-3600))")
            }
            if published < batchSize { await wakeUp.wait(timeout: pollInterval) }
        }
    }

    /// Publishes one batch; returns how many rows it marked sent.
    public func publishBatch() async throws -> Int {
        try await pool.transaction { connection in
            // One relay at a time across all orchestrators, so rows go out in the order they were written.
            guard try await connection.query("SELECT pg_try_advisory_xact_lock(\(Self.lockKey))").column(Bool.self).first == true
            else { return 0 }
            let rows = try await connection.query(
                """
                SELECT id, topic, message_key, payload, trace_parent FROM durable_outbox WHERE sent_at IS NULL
                ORDER BY id LIMIT \(batchSize) FOR UPDATE SKIP LOCKED
                """
            ).decode((Int64, String, String, String, String?).self)
            guard !rows.isEmpty else { return 0 }
            let results = await producer.send(
                batch: rows.map { row in
                    KafkaOutgoingMessage(
                        topic: row.1, key: row.2, value: Array(row.3.utf8),
                        headers: row.4.map { [KafkaHeader(name: TraceContext.headerName, string: $0)] } ?? [])
                })
            var sent: [String] = []
            for (row, result) in zip(rows, results) {
                switch result {
                case .success: sent.append(String(row.0))
                case .failure(let error):
                    logger.warning(
                        "Outbox row not published; it will be retried",
                        metadata: ["outboxId": "\(row.0)", "topic": "\(row.1)", "error": "\(error)"])
                }
            }
            if !sent.isEmpty {
                try await connection.query(
                    "UPDATE durable_outbox SET sent_at = \(Date()) WHERE id = ANY(\(sent)::bigint[])")
            }
            return sent.count
        }
    }
}

/// Fires due timers in batches, then waits `pollInterval` unless woken earlier (an invocation that creates a
/// timer due sooner wakes it). Any number of schedulers may share a database.
public struct TimerScheduler: Sendable {
    let pool: PostgresPool
    let engine: DurableEngine
    let pollInterval: Duration
    let wakeUp: WakeUpSignal
    let onFired: @Sendable (DurableEngine.FiredTimers) -> Void
    let logger: Logger
    let batchSize: Int

    public init(
        pool: PostgresPool, engine: DurableEngine, pollInterval: Duration, wakeUp: WakeUpSignal, logger: Logger,
        batchSize: Int = 100, onFired: @escaping @Sendable (DurableEngine.FiredTimers) -> Void = { _ in }
    ) {
        self.pool = pool
        self.engine = engine
        self.pollInterval = pollInterval
        self.wakeUp = wakeUp
        self.logger = logger
        self.batchSize = batchSize
        self.onFired = onFired
    }

    /// Fires timers until cancelled, with `workers` loops side by side (each claims its own batch with
    /// `SKIP LOCKED`, on its own connection), so that many deadlines falling together are fired in parallel.
    public func run(workers: Int = 1) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, workers) { group.addTask { try await loop() } }
            try await group.waitForAll()
        }
    }

    private func loop() async throws {
        while !Task.isCancelled {
            var fired = 0
            do {
                let result = try await pool.transaction { connection in
                    try await engine.fireDueTimers(limit: batchSize, on: connection)
                }
                fired = result.count
                if fired > 0 || !result.failed.isEmpty { onFired(result) }
            } catch is CancellationError {
                return
            } catch {
                logger.warning("Firing timers failed; retrying", metadata: ["error": "\(error)"])
            }
            if fired < batchSize { await wakeUp.wait(timeout: pollInterval) }
        }
    }
}
