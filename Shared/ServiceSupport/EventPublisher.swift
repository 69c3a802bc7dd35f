import DurableExecution
import Foundation
import GreenlightModels
import HTTPTypes
import Hummingbird
import Kafka
import Logging
import Metrics
import Postgres
import Tracing

/// Where a published event went.
public enum Publication: Sendable, Equatable {
    /// The broker acknowledged it (acks=all).
    case published
    /// The broker did not answer in time; the event is stored in the outbox and published once it is back.
    case queued
}

/// Publishes Greenlight events: JSON-encoded, keyed by request id, on the event's own topic, with the W3C
/// `traceparent` header of the trace it belongs to. `publish` returns once the event is safe — acknowledged by the
/// broker, or stored durably to be published later — and throws when it is neither.
public protocol EventPublishing: Sendable {
    @discardableResult
    func publish<Event: GreenlightEvent>(_ event: Event, trace: TraceContext) async throws -> Publication

    /// Reads what publishing an `Event` with this key depends on, so that a caller can read it beside its own
    /// look-ups (`planAhead`: the two waits overlap) and then `publish(_:trace:plan:)`. A caller that does not know
    /// the key yet passes nil: the plan is then read for the event's topic.
    func plan<Event: GreenlightEvent>(_ type: Event.Type, key: String?) async -> PublishingPlan

    /// Publishes `event` as `plan`, read for its type and key (or its type alone) while the request was handled,
    /// says.
    @discardableResult
    func publish<Event: GreenlightEvent>(_ event: Event, trace: TraceContext, plan: PublishingPlan) async throws
        -> Publication
}

/// What a publisher reads before it sends an event (`EventPublishing.plan`).
public enum PublishingPlan: Sendable, Equatable {
    /// Nothing waits in the outbox ahead of it (or the database did not say in time): send it.
    case direct
    /// An earlier event with the same topic and key waits in the outbox: queue it behind that one.
    case behindQueued
    /// Read for the topic alone, where events wait in the outbox: whether one has this event's key is read when it
    /// is published.
    case checkKey
}

extension EventPublishing {
    /// Starts reading the plan beside the caller's own look-ups. The task is not cancelled when the caller returns
    /// early (a link that is spent, a request already accepted): a statement already sent is left to finish, in
    /// at most the plan's own deadline, rather than cancelled at the cost of a cancel request to the database.
    public func planAhead<Event: GreenlightEvent>(_ type: Event.Type, key: String?) -> Task<PublishingPlan, Never> {
        Task { await plan(type, key: key) }
    }

    /// A publisher that reads nothing first has nothing to plan.
    public func plan<Event: GreenlightEvent>(_ type: Event.Type, key: String?) async -> PublishingPlan { .direct }

    @discardableResult
    public func publish<Event: GreenlightEvent>(_ event: Event, trace: TraceContext, plan: PublishingPlan) async throws
        -> Publication
    {
        try await publish(event, trace: trace)
    }
}

public struct KafkaEventPublisher: EventPublishing {
    let producer: KafkaProducer
    /// How long to wait for the broker's acknowledgement (nil: the producer's `message.timeout.ms`).
    let deadline: Duration?

    public init(producer: KafkaProducer, deadline: Duration? = nil) {
        self.producer = producer
        self.deadline = deadline
    }

    /// Sends in a producer span, a child of `trace`; the message carries the span's context.
    @discardableResult
    public func publish<Event: GreenlightEvent>(_ event: Event, trace: TraceContext) async throws -> Publication {
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
            try await producer.send(
                topic: Event.topic.rawValue, key: event.requestId, value: Array(payload), headers: headers, deadline: deadline)
        }
        return .published
    }
}

/// Publishes to Kafka, and when the broker does not acknowledge within `kafkaDeadline` (it is down, or slow),
/// stores the event in the outbox instead, within `outboxDeadline`, for the orchestrator's relay to publish once
/// the broker is back: intake and the callback receiver keep accepting through a broker outage and answer within
/// a bounded time. An event that is neither acknowledged nor stored throws (the caller answers 503). The same event
/// can then reach the broker twice (the late acknowledgement and the relay) with the same `eventId`, which its
/// consumer deduplicates. While an earlier event with the same key waits in the outbox, a new one goes there too,
/// behind it: a request's events reach the broker in the order they were accepted.
public struct OutboxFallbackPublisher: EventPublishing {
    let kafka: KafkaEventPublisher
    let pool: PostgresPool
    let outboxDeadline: Duration
    let logger: Logger

    public init(
        producer: KafkaProducer, pool: PostgresPool, kafkaDeadline: Duration = AnswerBudget.broker,
        outboxDeadline: Duration = AnswerBudget.outbox, logger: Logger
    ) {
        kafka = KafkaEventPublisher(producer: producer, deadline: kafkaDeadline)
        self.pool = pool
        self.outboxDeadline = outboxDeadline
        self.logger = logger
    }

    @discardableResult
    public func publish<Event: GreenlightEvent>(_ event: Event, trace: TraceContext) async throws -> Publication {
        try await publish(event, trace: trace, plan: await plan(Event.self, key: event.requestId))
    }

    /// Whether an earlier event with this key (or, for no key, any event on the topic) waits in the outbox. When
    /// the database does not answer in time the broker is tried: an earlier event waits there only if the broker was
    /// away moments ago too, and only then could this one overtake it.
    public func plan<Event: GreenlightEvent>(_ type: Event.Type, key: String?) async -> PublishingPlan {
        let pool = self.pool
        let waiting = (try? await withDeadline(AnswerBudget.outboxCheck, "Looking for events waiting in the outbox") {
            try await pool.withConnection { try await Outbox.hasUnpublished(topic: Event.topic.rawValue, key: key, on: $0) }
        }) ?? false
        guard waiting else { return .direct }
        return key == nil ? .checkKey : .behindQueued
    }

    @discardableResult
    public func publish<Event: GreenlightEvent>(_ event: Event, trace: TraceContext, plan: PublishingPlan) async throws
        -> Publication
    {
        let plan = plan == .checkKey ? await self.plan(Event.self, key: event.requestId) : plan
        let pool = self.pool
        if plan != .behindQueued {
            do {
                return try await kafka.publish(event, trace: trace)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                logger.warning(
                    "The broker did not take the event; keeping it in the outbox",
                    metadata: ["eventType": "\(Event.eventType)", "requestId": "\(event.requestId)", "error": "\(error)"])
            }
        }
        let payload = String(decoding: try GreenlightJSON.encode(event), as: UTF8.self)
        try await withDeadline(outboxDeadline, "Storing the event in the outbox") {
            try await pool.withConnection { connection in
                try await Outbox.write(
                    topic: Event.topic.rawValue, key: event.requestId, payload: payload, trace: trace, on: connection)
            }
        }
        Counter(label: "greenlight_events_queued_total", dimensions: [("topic", Event.topic.rawValue)]).increment()
        return .queued
    }
}

extension HTTPField.Name {
    /// W3C Trace Context's header.
    public static let traceparent = Self(TraceContext.headerName)!
}

extension Request {
    /// The trace this request's work belongs to: the server span `ServerSpanMiddleware` opened for it (which
    /// continues the caller's `traceparent`); without that span, a new span of the caller's trace, or a new trace
    /// when it carries none.
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
