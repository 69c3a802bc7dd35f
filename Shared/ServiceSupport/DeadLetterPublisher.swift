import Foundation
import GreenlightModels
import Kafka
import Logging
import Metrics

/// Sends a message a service could not handle to `approvals.dlq`, with the reason and its original bytes,
/// retrying while the broker is away, and counts it in `greenlight_dead_letters_total{service}`.
public struct DeadLetterPublisher: Sendable {
    let producer: KafkaProducer
    let service: String
    let logger: Logger

    public init(producer: KafkaProducer, service: String, logger: Logger) {
        self.producer = producer
        self.service = service
        self.logger = logger
    }

    public func publish(_ message: KafkaMessage, reason: String) async throws {
        logger.error(
            "Message sent to the dead-letter topic",
            metadata: [
                "topic": "\(message.topic)", "partition": "\(message.partition)", "offset": "\(message.offset)",
                "reason": "\(reason)",
            ])
        Counter(label: "greenlight_dead_letters_total", dimensions: [("service", service)]).increment()
        let letter = DeadLetter(
            reason: reason, topic: message.topic, partition: message.partition, offset: message.offset,
            key: message.keyString, payload: message.value, deadLetteredAt: Date())
        // The letter stays in the trace the message belonged to, so the trace shows where it ended.
        let headers = message.header(TraceContext.headerName).map { [KafkaHeader(name: TraceContext.headerName, value: $0)] } ?? []
        try await Backoff().retrying("Publishing a dead letter", logger: logger) {
            try await producer.send(
                topic: Topic.deadLetters.rawValue, key: message.keyString, value: Array(try GreenlightJSON.encode(letter)),
                headers: headers)
        }
    }
}
