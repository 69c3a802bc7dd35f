import ApprovalStore
import Foundation
import GreenlightModels
import Kafka
import Logging
import Postgres
import ServiceSupport

/// Publishes outbox rows with the idempotent producer, oldest first, and marks them sent. A row is marked only
/// after the broker acknowledged it, so a crash between the two publishes it again (consumers dedupe on
/// `eventId`); rows are locked while published, so two relays never publish the same row at once.
struct OutboxRelay: Sendable {
    let pool: PostgresPool
    let producer: KafkaProducer
    let wakeUp: WakeUpSignal
    let pollInterval: Duration
    let logger: Logger
    let batchSize = 500
    let store = OutboxStore()

    func run() async throws {
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
                _ = try? await pool.withConnection { connection in
                    try await store.pruneSent(on: connection, before: Date().addingTimeInterval(-3600))
                }
            }
            if published < batchSize { await wakeUp.wait(timeout: pollInterval) }
        }
    }

    /// Publishes one batch; returns how many rows it marked sent.
    func publishBatch() async throws -> Int {
        try await pool.transaction { connection in
            let rows = try await store.lockUnsent(on: connection, limit: batchSize)
            guard !rows.isEmpty else { return 0 }
            let results = await producer.send(
                batch: rows.map { row in
                    KafkaOutgoingMessage(topic: row.topic, key: row.key, value: Array(row.payload.utf8))
                })
            var sent: [Int64] = []
            for (row, result) in zip(rows, results) {
                switch result {
                case .success: sent.append(row.id)
                case .failure(let error):
                    logger.warning(
                        "Outbox row not published; it will be retried",
                        metadata: ["outboxId": "\(row.id)", "topic": "\(row.topic)", "error": "\(error)"])
                }
            }
            try await store.markSent(sent, on: connection, at: Date())
            return sent.count
        }
    }
}
