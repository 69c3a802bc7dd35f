import GreenlightModels
import Kafka
import Logging
import OTel
import Tracing

// Tracing through swift-distributed-tracing, with swift-otel's tracer (`GreenlightTracing`): `ServerSpanMiddleware`
// opens a server span for each HTTP request, consumers open a span for each message, publishers one for each send,
// and the W3C `traceparent` header carries the context between them (HTTP in, Kafka between services). Greenlight
// also keeps a trace as a `TraceContext` value (stored with an execution, say); these helpers move between the two
// through the tracer's own propagation, the only public view of its span context.

extension ServiceContext {
    /// The W3C trace context of this context's span; nil when it has none (no tracer bootstrapped, or no span).
    public var traceContext: TraceContext? {
        var carrier: [String: String] = [:]
        InstrumentationSystem.instrument.inject(self, into: &carrier, using: TraceparentCarrier())
        return carrier[TraceContext.headerName].flatMap(TraceContext.init(traceparent:))
    }

    /// The current context with `trace` in place of its span: what a span that continues `trace` starts from.
    public static func continuing(_ trace: TraceContext) -> ServiceContext {
        var context = ServiceContext.current ?? .topLevel
        InstrumentationSystem.instrument.extract(
            [TraceContext.headerName: trace.traceparent], into: &context, using: TraceparentCarrier())
        return context
    }
}

private struct TraceparentCarrier: Injector, Extractor {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}

extension Logger.MetadataProvider {
    /// `traceId` and `spanId` (and `traceFlags`) of the current span on every log line written inside it, whichever
    /// tracer made it (`UnrecordedTracer`, or swift-otel's through its provider), under the names Greenlight's log lines
    /// have always used.
    public static let greenlightTrace: Logger.MetadataProvider = {
        var names = OTel.Configuration.LoggingMetadataProviderConfiguration.default
        names.traceIDKey = "traceId"
        names.spanIDKey = "spanId"
        names.traceFlagsKey = "traceFlags"
        let otel = OTel.makeLoggingMetadataProvider(configuration: names)
        return Logger.MetadataProvider {
            guard let span = ServiceContext.current?.unrecordedSpan else { return otel.get() }
            return ["traceId": "\(span.traceId)", "spanId": "\(span.spanId)", "traceFlags": span.sampled ? "1" : "0"]
        }
    }()
}

/// Writes `traceparent` into a Kafka message's headers.
public struct KafkaHeadersInjector: Injector {
    public init() {}
    public func inject(_ value: String, forKey key: String, into carrier: inout [KafkaHeader]) {
        carrier.append(KafkaHeader(name: key, string: value))
    }
}

/// Reads `traceparent` from a consumed Kafka message: only a well-formed one, in its canonical form, since swift-otel
/// logs a value it cannot parse together with the whole carrier (here the message, personal data and all). A
/// malformed one is ignored, and the receiver starts a new trace, as the specification says.
public struct KafkaMessageExtractor: Extractor {
    public init() {}
    public func extract(key: String, from carrier: KafkaMessage) -> String? {
        guard key == TraceContext.headerName else { return nil }
        return carrier.header(key).flatMap {
            TraceContext(traceparent: String(decoding: $0, as: UTF8.self))?.traceparent
        }
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
