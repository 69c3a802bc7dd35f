import Foundation
import GreenlightModels
import HTTPTypes
import Hummingbird
import Kafka
import Tracing

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

    /// Sends in a producer span, a child of `trace`; the message carries the span's context.
    public func publish<Event: GreenlightEvent>(_ event: Event, trace: TraceContext) async throws {
        let payload = try GreenlightJSON.encode(event)
        try await withSpan("publish \(Event.topic.rawValue)", context: .continuing(trace), ofKind: .producer) { span in
            span.attributes["messaging.destination.name"] = Event.topic.rawValue
            span.attributes["greenlight.event.type"] = Event.eventType
            var headers = [KafkaHeader(name: "greenlight-event-type", string: Event.eventType)]
            InstrumentationSystem.instrument.inject(span.context, into: &headers, using: KafkaHeadersInjector())
            if !headers.contains(where: { $0.name == TraceContext.headerName }) {
                // No tracer bootstrapped (a tool, a test): the context still travels.
                headers.append(KafkaHeader(name: TraceContext.headerName, string: trace.traceparent))
            }
            try await producer.send(topic: Event.topic.rawValue, key: event.requestId, value: Array(payload), headers: headers)
        }
    }
}

extension HTTPField.Name {
    /// W3C Trace Context's header.
    public static let traceparent = Self(TraceContext.headerName)!
}

extension Request {
    /// The trace this request's work belongs to: the server span `TracingMiddleware` opened for it (which
    /// continues the caller's `traceparent`); without that middleware, a new span of the caller's trace, or a
    /// new trace when it carries none.
    public var trace: TraceContext {
        ServiceContext.current?.traceContext ?? TraceContext.continuing(headers[.traceparent])
    }
}

extension KafkaMessage {
    /// A new span of the trace this message carries in its `traceparent` header, or a new trace.
    public var trace: TraceContext {
        TraceContext.continuing(header(TraceContext.headerName).map { String(decoding: $0, as: UTF8.self) })
    }
}
