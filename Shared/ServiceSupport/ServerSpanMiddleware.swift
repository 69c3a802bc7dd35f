import GreenlightModels
import HTTPTypes
import Hummingbird
import Tracing

/// A server span per request, continuing the caller's `traceparent`: Hummingbird's `TracingMiddleware`, with what a
/// collector must not receive kept from it. No span for health probes and scrapes (many a minute, and of no
/// interest); a link's path, which holds its token, with the token replaced by `***`; no query, user agent or client
/// address.
public struct ServerSpanMiddleware<Context: RequestContext>: RouterMiddleware {
    static var untracedPaths: Set<String> { ["/healthz", "/readyz", "/metrics"] }
    /// Attributes `TracingMiddleware` records that may identify a person or carry a secret.
    static var droppedAttributes: [String] {
        ["url.query", "user_agent.original", "net.sock.peer.addr", "net.sock.peer.port", "net.sock.family"]
    }

    let tracing = TracingMiddleware<Context>()

    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        guard !Self.untracedPaths.contains(request.uri.path) else { return try await next(request, context) }
        return try await tracing.handle(Self.withWellFormedTraceparent(request), context: context) { request, context in
            if let current = ServiceContext.current,
                let span = InstrumentationSystem.tracer.activeSpan(identifiedBy: current)
            {
                span.updateAttributes { attributes in
                    attributes["url.path"] = ProblemMiddleware<Context>.redacted(request.uri.path)
                    for name in Self.droppedAttributes { attributes.set(name, value: nil) }
                }
            }
            return try await next(request, context)
        }
    }

    /// Only a well-formed `traceparent`, in its canonical form, reaches the tracer: swift-otel logs one it cannot parse
    /// together with every header of the request (an API key among them). A malformed one is dropped, and a new trace
    /// starts, as the specification says; vendors' `tracestate` is not carried.
    static func withWellFormedTraceparent(_ request: Request) -> Request {
        let given = request.headers[.traceparent]
        let canonical = given.flatMap(TraceContext.init(traceparent:))?.traceparent
        guard given != canonical || request.headers[.tracestate] != nil else { return request }
        var head = request.head
        head.headerFields[.traceparent] = canonical
        head.headerFields[.tracestate] = nil
        return Request(head: head, body: request.body)
    }
}

extension HTTPField.Name {
    /// W3C Trace Context's vendor header.
    static let tracestate = Self("tracestate")!
}
