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
            try await Backoff().retrying("Committing the offset", logger: logger) {
                try await consumer.commit(message)
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
        try await Backoff().retrying("Handling an event", logger: logger, metadata: metadata) {
            try await pool.transaction { connection in
                let writer = ApprovalWriter(connection)
                guard try await writer.recordInbox(eventId: eventId, topic: message.topic) else {
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
        outboxWakeUp.signal()
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
