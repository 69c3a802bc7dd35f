import Foundation
import GreenlightModels
import Kafka
import Logging
import Synchronization
import Tracing

// Tracing through swift-distributed-tracing: Hummingbird's `TracingMiddleware` opens a server span for each HTTP
// request, consumers open a span for each message, publishers one for each send, and the W3C `traceparent`
// header carries the context between them (HTTP in, Kafka between services). `GreenlightTracer` gives spans
// W3C ids and, with `GREENLIGHT_TRACING=log`, writes each finished one as a log line; every log line written
// inside a span carries its `traceId` and `spanId`. An OpenTelemetry tracer could take its place at bootstrap.

extension ServiceContext {
    /// The W3C trace context of the current span.
    public var traceContext: TraceContext? {
        get { self[TraceContextKey.self] }
        set { self[TraceContextKey.self] = newValue }
    }

    /// The current context with `trace` in place of its span: what a span that continues `trace` starts from.
    public static func continuing(_ trace: TraceContext) -> ServiceContext {
        var context = ServiceContext.current ?? .topLevel
        context.traceContext = trace
        return context
    }
}

private enum TraceContextKey: ServiceContextKey {
    typealias Value = TraceContext
    static let nameOverride: String? = "traceparent"
}

/// What to do with finished spans (`GREENLIGHT_TRACING`).
public enum TracingMode: String, Sendable {
    /// One JSON log line per finished span (the default).
    case log
    /// Only propagate the context: `traceparent` still travels, ids still reach the log lines.
    case off
}

/// W3C trace ids for spans, `traceparent` for propagation, and finished spans written to a logger.
public struct GreenlightTracer: Tracer {
    public typealias Span = GreenlightSpan

    /// Where finished spans go; nil writes none.
    let logger: Logger?
    /// Routes whose server spans are not written (health probes and scrapes, many times a minute).
    static let quietRoutes: Set<String> = ["/healthz", "/readyz", "/metrics"]

    public init(logger: Logger?) {
        self.logger = logger
    }

    public func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> GreenlightSpan {
        var context = context()
        let parent = context.traceContext
        context.traceContext = parent?.child() ?? TraceContext.newTrace()
        return GreenlightSpan(
            operationName: operationName, context: context, kind: kind, parentSpanId: parent?.spanId,
            start: instant().nanosecondsSinceEpoch, logger: logger)
    }

    public func activeSpan(identifiedBy context: ServiceContext) -> GreenlightSpan? { nil }

    public func forceFlush() {}

    public func inject<Carrier, Inject: Injector>(
        _ context: ServiceContext, into carrier: inout Carrier, using injector: Inject
    ) where Inject.Carrier == Carrier {
        guard let trace = context.traceContext else { return }
        injector.inject(trace.traceparent, forKey: TraceContext.headerName, into: &carrier)
    }

    public func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract
    ) where Extract.Carrier == Carrier {
        // A malformed value is ignored, and the receiver starts a new trace, as the specification says.
        if let value = extractor.extract(key: TraceContext.headerName, from: carrier),
            let trace = TraceContext(traceparent: value)
        {
            context.traceContext = trace
        }
    }
}

/// A span of `GreenlightTracer`.
public struct GreenlightSpan: Tracing.Span {
    public let context: ServiceContext
    public let kind: SpanKind
    public let parentSpanId: String?
    let start: UInt64
    let logger: Logger?
    private let state: SharedState

    /// The attributes a span line may carry. Others (`url.path` with a link token in it, the user agent, the
    /// client's address) stay out of the log.
    static let loggedAttributes: Set<String> = [
        "http.request.method", "http.route", "http.response.status_code", "messaging.destination.name",
        "messaging.kafka.message.key", "greenlight.event.type",
    ]

    private final class SharedState: Sendable {
        struct Values {
            var operationName: String
            var attributes: SpanAttributes = [:]
            var status: SpanStatus?
            var errors: [String] = []
            var ended = false
        }
        let values: Mutex<Values>
        init(_ operationName: String) { values = Mutex(Values(operationName: operationName)) }
    }

    init(operationName: String, context: ServiceContext, kind: SpanKind, parentSpanId: String?, start: UInt64, logger: Logger?) {
        self.context = context
        self.kind = kind
        self.parentSpanId = parentSpanId
        self.start = start
        self.logger = logger
        state = SharedState(operationName)
    }

    public var operationName: String {
        get { state.values.withLock { $0.operationName } }
        nonmutating set { state.values.withLock { if !$0.ended { $0.operationName = newValue } } }
    }

    public var attributes: SpanAttributes {
        get { state.values.withLock { $0.attributes } }
        nonmutating set { state.values.withLock { if !$0.ended { $0.attributes = newValue } } }
    }

    public var isRecording: Bool { state.values.withLock { !$0.ended } }

    public func setStatus(_ status: SpanStatus) {
        state.values.withLock { if !$0.ended { $0.status = status } }
    }

    public func addEvent(_ event: SpanEvent) {}

    public func addLink(_ link: SpanLink) {}

    public func recordError<Instant: TracerInstant>(
        _ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant
    ) {
        // The error's type, not its text: a message may quote input.
        state.values.withLock { if !$0.ended { $0.errors.append(String(describing: type(of: error))) } }
    }

    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
        let end = instant().nanosecondsSinceEpoch
        guard let values = state.values.withLock({ values -> SharedState.Values? in
            guard !values.ended else { return nil }
            values.ended = true
            return values
        }) else { return }
        guard let logger, logger.logLevel <= .info, let trace = context.traceContext else { return }
        if case .string(let route)? = values.attributes.get("http.route"), GreenlightTracer.quietRoutes.contains(route) {
            return
        }
        var metadata: Logger.Metadata = [
            "span": "\(values.operationName)", "spanKind": "\(kind)", "traceId": "\(trace.traceId)",
            "spanId": "\(trace.spanId)",
            "durationMs": "\(Double(end &- start) / 1_000_000)",
            "status": "\(values.status?.code == .error || !values.errors.isEmpty ? "error" : "ok")",
        ]
        if let parentSpanId { metadata["parentSpanId"] = "\(parentSpanId)" }
        if !values.errors.isEmpty { metadata["errorTypes"] = "\(values.errors.joined(separator: ","))" }
        values.attributes.forEach { name, value in
            guard Self.loggedAttributes.contains(name) else { return }
            switch value {
            case .string(let text): metadata[name] = "\(text)"
            case .int64(let number): metadata[name] = "\(number)"
            case .int32(let number): metadata[name] = "\(number)"
            default: break
            }
        }
        logger.info("span", metadata: metadata)
    }
}

extension Logger.MetadataProvider {
    /// `traceId` and `spanId` of the current span on every log line written inside it.
    public static let greenlightTrace = Logger.MetadataProvider {
        guard let trace = ServiceContext.current?.traceContext else { return [:] }
        return ["traceId": "\(trace.traceId)", "spanId": "\(trace.spanId)"]
    }
}

/// Writes `traceparent` into a Kafka message's headers.
public struct KafkaHeadersInjector: Injector {
    public init() {}
    public func inject(_ value: String, forKey key: String, into carrier: inout [KafkaHeader]) {
        carrier.append(KafkaHeader(name: key, string: value))
    }
}

/// Reads `traceparent` from a consumed Kafka message.
public struct KafkaMessageExtractor: Extractor {
    public init() {}
    public func extract(key: String, from carrier: KafkaMessage) -> String? {
        carrier.header(key).map { String(decoding: $0, as: UTF8.self) }
    }
}

extension KafkaMessage {
    /// The context the message carries (its `traceparent`), for the span that handles it.
    public var serviceContext: ServiceContext {
        var context = ServiceContext.current ?? .topLevel
        InstrumentationSystem.instrument.extract(self, into: &context, using: KafkaMessageExtractor())
        return context
    }

    /// Runs `body` in a consumer span that continues the message's trace; `body` gets the span's trace
    /// context, to pass on to what it publishes or stores.
    public func withConsumerSpan<T>(
        _ operationName: String, _ body: (TraceContext) async throws -> T
    ) async rethrows -> T {
        try await withSpan(operationName, context: serviceContext, ofKind: .consumer) { span in
            span.attributes["messaging.destination.name"] = topic
            if let key = keyString { span.attributes["messaging.kafka.message.key"] = key }
            // Without a tracer bootstrapped, the message's own context continues as before.
            return try await body(span.context.traceContext ?? trace)
        }
    }
}

/// Runs `body` in an internal span whose parent is `trace`, not the current span: work done for a request whose
/// trace began elsewhere, such as a click deciding a request submitted hours before. Log lines written inside
/// carry that trace's ids. `body` gets the span's context (`trace` itself when no tracer is bootstrapped).
public func inSpan<T>(
    _ operationName: String, continuing trace: TraceContext, _ body: (TraceContext) async throws -> T
) async rethrows -> T {
    try await withSpan(operationName, context: .continuing(trace), ofKind: .internal) { span in
        try await body(span.context.traceContext ?? trace)
    }
}

/// Bootstraps the process-wide tracer once (later calls do nothing, so tests may call it freely).
public enum GreenlightTracing {
    private static let bootstrapped = Mutex(false)

    public static func bootstrap(mode: TracingMode, logger: Logger) {
        let first = bootstrapped.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        InstrumentationSystem.bootstrap(GreenlightTracer(logger: mode == .log ? logger : nil))
    }
}
