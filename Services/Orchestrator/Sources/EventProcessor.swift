import ApprovalStore
import Foundation
import GreenlightModels
import Kafka
import Logging
import Postgres
import ServiceSupport

/// Consumes `approvals.requests` and `approvals.decisions`. Each event is handled in one transaction with its
/// inbox row; the offset is committed only after that transaction commits. A redelivered event finds its inbox
/// row and has no second effect; a malformed one is logged and skipped.
struct EventProcessor: Sendable {
    let consumer: KafkaConsumer
    let pool: PostgresPool
    let workflow: ApprovalWorkflow
    let outboxWakeUp: WakeUpSignal
    let logger: Logger

    func run() async throws {
        for try await message in consumer.messages {
            try await handle(message)
            do {
                try await consumer.commit(message)
            } catch {
                // After a rebalance the partition may belong to another member, which reads from the last
                // committed offset: the event comes again and its inbox row makes that harmless.
                logger.warning("Offset not committed; the event may be delivered again", metadata: ["error": "\(error)"])
            }
        }
    }

    func handle(_ message: KafkaMessage) async throws {
        let event: InboundEvent
        do {
            event = try InboundEvent.decode(message.value, topic: message.topic)
        } catch {
            logger.error(
                "Skipping a malformed event",
                metadata: ["topic": "\(message.topic)", "partition": "\(message.partition)", "offset": "\(message.offset)",
                    "reason": "\(error)"])
            return
        }
        let (eventId, requestId) = event.identity
        let metadata: Logger.Metadata = ["eventId": "\(eventId)", "requestId": "\(requestId)"]
        do {
            try await apply(event, eventId: eventId, topic: message.topic, metadata: metadata)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            logger.error("Skipping an event that keeps failing", metadata: metadata.merging(["error": "\(error)"]) { a, _ in a })
        }
        outboxWakeUp.signal()
    }

    private func apply(_ event: InboundEvent, eventId: UUID, topic: String, metadata: Logger.Metadata) async throws {
        try await Backoff().retrying("Handling an event", logger: logger, metadata: metadata, giveUp: Self.isPoison) {
            try await pool.transaction { connection in
                let writer = ApprovalWriter(connection)
                guard try await writer.recordInbox(eventId: eventId, topic: topic) else {
                    logger.debug("Event already handled", metadata: metadata)
                    return
                }
                switch event {
                case .approvalRequested(let request):
                    try await workflow.start(request, writer: writer, now: Date(), logger: logger)
                case .decisionSubmitted(let decision):
                    try await workflow.decide(decision, writer: writer, now: Date(), logger: logger)
                }
            }
        }
    }
}

extension EventProcessor {
    /// Connection trouble is retried for as long as it lasts; any other failure of the same event five times
    /// over is that event's fault, and it is skipped so that the partition moves on.
    static func isPoison(_ error: any Error, attempt: Int) -> Bool {
        if let error = error as? PostgresError, error.code == .connectionLost || error.code == .connectionFailed
            || error.isRetryableConflict
        {
            return false
        }
        return attempt >= 5
    }
}

extension InboundEvent {
    var identity: (eventId: UUID, requestId: String) {
        switch self {
        case .approvalRequested(let event): return (event.eventId, event.requestId)
        case .decisionSubmitted(let event): return (event.eventId, event.requestId)
        }
    }
}
