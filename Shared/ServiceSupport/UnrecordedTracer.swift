import GreenlightModels
import Tracing

/// The tracer when no exporter is configured: every span has W3C ids — a span continues its parent's trace with a
/// span id of its own and the parent's sampled flag, a span without one starts a sampled trace — so `traceparent`
/// travels in and out as with swift-otel's tracer, and log lines carry the ids; and nothing is recorded.
///
/// swift-otel's tracer without an exporter records every span all the same and hands it to a batch processor that
/// drops it: 6–8% of the orchestrator's, the callback receiver's and the notifier's CPU under load (bench/README). Its
/// one sampler that records nothing marks every context it makes as not sampled, and a user's services that sample by
/// their parent would then drop their traces of what Greenlight sends them; this one keeps the parent's flag.
struct UnrecordedTracer: Tracer {
    typealias Span = NoOpTracer.NoOpSpan

    func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> NoOpTracer.NoOpSpan {
        var context = context()
        context.unrecordedSpan = context.unrecordedSpan?.child() ?? TraceContext.newTrace()
        return NoOpTracer.NoOpSpan(context: context)
    }

    func forceFlush() {}

    func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        guard let span = context.unrecordedSpan else { return }
        injector.inject(span.traceparent, forKey: TraceContext.headerName, into: &carrier)
    }

    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        // A malformed value is ignored (the span made from this context starts a new trace), as with swift-otel's.
        guard let value = extractor.extract(key: TraceContext.headerName, from: carrier),
            let span = TraceContext(traceparent: value)
        else { return }
        context.unrecordedSpan = span
    }
}

private enum UnrecordedSpanKey: ServiceContextKey {
    typealias Value = TraceContext
}

extension ServiceContext {
    /// The span `UnrecordedTracer` made for this context (or the remote one it was continued from).
    var unrecordedSpan: TraceContext? {
        get { self[UnrecordedSpanKey.self] }
        set { self[UnrecordedSpanKey.self] = newValue }
    }
}
