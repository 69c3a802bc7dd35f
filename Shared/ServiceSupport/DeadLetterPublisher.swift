import Foundation
import GreenlightModels
import Kafka
import Logging
import Metrics

/// Sends a message a service could not handle to `approvals.dlq`, with the reason, where it came from and its
/// original bytes (capped, see `DeadLetter`), and counts it in `greenlight_dead_letters_total{service}`. While the
/// broker is away it retries (the lane waits: nothing behind it could be published either); a letter the broker
/// refuses for what it is goes again without its payload, so a dead letter never wedges its lane.
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
                "bytes": "\(message.value.count)", "reason": "\(reason.prefix(DeadLetter.maxReasonCharacters))",
            ])
        Counter(label: "greenlight_dead_letters_total", dimensions: [("service", service)]).increment()
        var letter = DeadLetter(
            reason: reason, topic: message.topic, partition: message.partition, offset: message.offset,
            key: message.keyString, payload: message.value, headers: message.headers.map { ($0.name, $0.value) },
            deadLetteredAt: Date())
        // The letter stays in the trace the message belonged to, so the trace shows where it ended.
        let headers = message.header(TraceContext.headerName).map { [KafkaHeader(name: TraceContext.headerName, value: $0)] } ?? []
        try await Backoff().retrying("Publishing a dead letter", logger: logger) {
            do {
                try await producer.send(
                    topic: Topic.deadLetters.rawValue, key: letter.key, value: Array(try GreenlightJSON.encode(letter)),
                    headers: headers)
            } catch let error as KafkaError where error.isPermanent && !letter.payloadBase64.isEmpty {
                logger.error(
                    "The dead letter was refused; sending it without its payload",
                    metadata: ["topic": "\(message.topic)", "offset": "\(message.offset)", "error": "\(error)"])
                letter = letter.withoutPayload()
                throw error
            }
        }
    }
}
