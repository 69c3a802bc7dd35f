import Foundation
import GreenlightModels
import HTTPTypes
import Hummingbird
import Kafka

/// Publishes Greenlight events: JSON-encoded, keyed by request id, on the event's own topic, with the W3C
/// `traceparent` header of the trace it belongs to, acknowledged by the broker (acks=all) before `publish`
/// returns.
public protocol EventPublishing: Sendable {
    func publish<Event: GreenlightEvent>(_ event: Event, trace: TraceContext) async throws
}

public struct KafkaEventPublisher: EventPublishing {
    let producer: KafkaProducer

    public init(producer: KafkaProducer) {
        self.producer = producer
    }

    public func publish<Event: GreenlightEvent>(_ event: Event, trace: TraceContext) async throws {
        let payload = try GreenlightJSON.encode(event)
        try await producer.send(
            topic: Event.topic.rawValue, key: event.requestId, value: Array(payload),
            headers: [
                KafkaHeader(name: "greenlight-event-type", string: Event.eventType),
                KafkaHeader(name: TraceContext.headerName, string: trace.traceparent),
            ])
    }
}

extension HTTPField.Name {
    /// W3C Trace Context's header.
    public static let traceparent = Self(TraceContext.headerName)!
}

extension Request {
    /// A new span of the trace this request carries in `traceparent`, or a new trace when it carries none.
    public var trace: TraceContext { TraceContext.continuing(headers[.traceparent]) }
}

extension KafkaMessage {
    /// A new span of the trace this message carries in its `traceparent` header, or a new trace.
    public var trace: TraceContext {
        TraceContext.continuing(header(TraceContext.headerName).map { String(decoding: $0, as: UTF8.self) })
    }
}
