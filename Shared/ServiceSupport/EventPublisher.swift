import Foundation
import GreenlightModels
import Kafka

/// Publishes Greenlight events: JSON-encoded, keyed by request id, on the event's own topic, acknowledged by
/// the broker (acks=all) before `publish` returns.
public protocol EventPublishing: Sendable {
    func publish<Event: GreenlightEvent>(_ event: Event) async throws
}

public struct KafkaEventPublisher: EventPublishing {
    let producer: KafkaProducer

    public init(producer: KafkaProducer) {
        self.producer = producer
    }

    public func publish<Event: GreenlightEvent>(_ event: Event) async throws {
        let payload = try GreenlightJSON.encode(event)
        try await producer.send(
            topic: Event.topic.rawValue, key: event.requestId, value: Array(payload),
            headers: [KafkaHeader(name: "greenlight-event-type", string: Event.eventType)])
    }
}
