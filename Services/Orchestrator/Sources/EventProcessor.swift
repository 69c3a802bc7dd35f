import ApprovalStore
import DurableExecution
import Foundation
import GreenlightModels
import Kafka
import Logging
import Metrics
import Postgres
import ServiceSupport

/// Consumes some of `approvals.requests`, `approvals.decisions` and `approvals.internal` (the orchestrator runs one
/// for new requests and one for the rest, see `OrchestratorService`). Each event is handled in one transaction with its
/// inbox row; the offset is committed only after that transaction commits. A redelivered event finds its inbox
/// row and has no second effect; an event that cannot be read goes to `approvals.dlq` with the reason.
struct EventProcessor: Sendable {
    let consumer: KafkaConsumer
    let producer: KafkaProducer
    let pool: PostgresPool
    let handler: EventHandler
    let outboxWakeUp: WakeUpSignal
    let logger: Logger
    /// Which of the orchestrator's consumers this is, in its lanes' names.
    var name = "events"
    /// Which lanes are busy, and for how long (stalled lanes show in `/readyz` and the metrics).
    var lanes = LaneWatch()
    /// The most events of one lane applied in one transaction.
    var maxBatch = 32
    /// Counts the events toward renewing the statistics of the tables they fill (its `renewWhenDue` runs as a service
    /// of its own): a lookup by request id planned while `approval_requests` was nearly empty scans every pending
    /// request. Nil: this processor leaves that to another.
    var statistics: TableGrowth?

    func run() async throws {
        // Partitions side by side. One lane per partition *number*, across this consumer's topics: a decision and
        // the commands about the same request have the same key, so with the same partition count (the topics are
        // created together) they land on the same partition number and are handled in the order they were consumed.
        // A redelivered event finds its inbox row, so a failed commit is harmless.
        // A lane that has fallen behind takes what is waiting as one batch, applied in one transaction (one
        // commit, one offset commit) instead of one each.
        let logger = self.logger
        let lanes = self.lanes
        let name = self.name
        try await consumer.forEachBatchByPartition(maxBatch: maxBatch, lane: { "\($0.partition)" }, { batch in
            try await lanes.watching("\(name)/\(batch[0].partition)") { try await handle(batch) }
        }) { _, error in
            logger.warning("Offsets not committed; the events may be delivered again", metadata: ["error": "\(error)"])
        }
    }

    /// Applies `messages` (one lane's, in order) in one transaction. If that fails for any reason but
    /// cancellation, nothing of it stays and each message is handled again on its own, with the usual retries and
    /// dead-lettering: a batch never changes what happens to one event, only how many commits it takes. The events
    /// count toward `statistics`, whose renewal of the planner's statistics runs apart: the lane never waits for it.
    func handle(_ messages: [KafkaMessage]) async throws {
        if messages.count > 1 {
            try await handleBatch(messages)
        } else if let message = messages.first {
            try await handle(message)
        }
        statistics?.count(messages.count)
    }

    private func handleBatch(_ messages: [KafkaMessage]) async throws {
        var readable: [(message: KafkaMessage, event: InboundEvent)] = []
        for message in messages {
            do {
                readable.append((message, try InboundEvent.decode(message.value, topic: message.topic)))
            } catch {
                try await deadLetter(message, reason: "\(error)")
            }
        }
        do {
            try await pool.transaction { connection in
                // The requests of the whole batch locked first, in one order: the other consumer's batch about some of
                // the same requests (decisions that came before their requests, in a burst) waits for this one rather
                // than each holding a lock the other needs.
                handler.engine.queueNameLocks(executionsNamed: readable.map(\.event.identity.requestId), on: connection)
                // Their inbox rows in one statement, sent with the locks: the events handled before (redeliveries), and
                // a second copy of one in the batch, are skipped.
                var fresh = try await handler.engine.recordInbox(
                    readable.map { ($0.event.identity.eventId, $0.message.topic) }, on: connection)
                // The invocations' history, checkpoints and messages, written once for the batch (a write that fails
                // fails the batch, and the events are handled again one by one below).
                try await handler.engine.writingTogether(on: connection) {
                    for (message, event) in readable where fresh.remove(event.identity.eventId) != nil {
                        _ = try await message.withConsumerSpan("process \(message.topic)") { trace in
                            try await handler.handle(event, topic: message.topic, trace: trace, recorded: true, on: connection)
                        }
                    }
                }
            }
            Counter(label: "greenlight_orchestrator_event_batches_total").increment()
            outboxWakeUp.signal()
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            logger.debug("A batch of events failed; handling them one by one", metadata: ["error": "\(error)", "events": "\(readable.count)"])
            for (message, _) in readable { try await handle(message) }
        }
    }

    func handle(_ message: KafkaMessage) async throws {
        let event: InboundEvent
        do {
            event = try InboundEvent.decode(message.value, topic: message.topic)
        } catch {
            try await deadLetter(message, reason: "\(error)")
            return
        }
        let (eventId, requestId) = event.identity
        try await message.withConsumerSpan("process \(message.topic)") { trace in
            let metadata: Logger.Metadata = ["eventId": "\(eventId)", "requestId": "\(requestId)", "traceId": "\(trace.traceId)"]
            do {
                try await Backoff().retrying("Handling an event", logger: logger, metadata: metadata, giveUp: Self.isPoison) {
                    try await pool.transaction { connection in
                        if try await !handler.handle(event, topic: message.topic, trace: trace, on: connection) {
                            logger.debug("Event already handled", metadata: metadata)
                        }
                    }
                }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                try await deadLetter(message, reason: "handling failed repeatedly: \(error)")
                if let refused = error as? EventRefused { handler.count(refused) }
            }
        }
        outboxWakeUp.signal()
    }

    /// Publishes the message to `approvals.dlq` with the reason and its original bytes.
    func deadLetter(_ message: KafkaMessage, reason: String) async throws {
        try await DeadLetterPublisher(producer: producer, service: "orchestrator", logger: logger)
            .publish(message, reason: reason)
    }
}

extension EventProcessor {
    /// Connection trouble is retried for as long as it lasts; any other failure of the same event five times
    /// over is that event's fault, and it goes to the dead-letter topic so that the partition moves on.
    static func isPoison(_ error: any Error, attempt: Int) -> Bool {
        if error is EventRefused { return true }
        return !PostgresError.isTransient(error) && attempt >= 5
    }
}
