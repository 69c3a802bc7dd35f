import Foundation
import GreenlightModels
import Kafka
import Logging
import ServiceSupport
import Synchronization
import Testing
import Tracing

/// The tracer behind `GREENLIGHT_TRACING`: W3C ids, `traceparent` in and out, and span lines that say where time
/// went without carrying what must not be logged.
struct TracingTests {
    final class Lines: Sendable {
        let raw = Mutex<[String]>([])
        func handler(_ label: String) -> JSONLogHandler {
            var handler = JSONLogHandler(service: label, level: .info) { [self] line in raw.withLock { $0.append(line) } }
            handler.metadataProvider = .greenlightTrace
            return handler
        }
        var text: String { raw.withLock { $0.joined(separator: "\n") } }
        var all: [[String: Any]] {
            raw.withLock { $0 }.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        }
        var spans: [[String: Any]] { all.filter { $0["message"] as? String == "span" } }
    }

    @Test func spansContinueTheIncomingTraceAndWriteOneLineEach() async throws {
        let lines = Lines()
        let tracer = GreenlightTracer(logger: Logger(label: "svc") { lines.handler($0) })
        var incoming = ServiceContext.topLevel
        tracer.extract(
            ["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"], into: &incoming,
            using: DictionaryExtractor())
        #expect(incoming.traceContext?.spanId == "00f067aa0ba902b7")

        var sent: [String: String] = [:]
        tracer.withSpan("/approve/{token}", context: incoming, ofKind: .server) { server in
            server.attributes["http.route"] = "/approve/{token}"
            server.attributes["url.path"] = "/approve/SECRET-TOKEN-abcdefghij"
            server.attributes["user_agent.original"] = "Mozilla/5.0 (the approver's browser)"
            server.attributes["http.response.status_code"] = 200
            tracer.withSpan("publish approvals.decisions", context: server.context, ofKind: .producer) { producer in
                tracer.inject(producer.context, into: &sent, using: DictionaryInjector())
            }
        }
        let spans = lines.spans
        try #require(spans.count == 2)
        let (producer, server) = (spans[0], spans[1])
        #expect(server["traceId"] as? String == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(server["parentSpanId"] as? String == "00f067aa0ba902b7")
        #expect(server["spanKind"] as? String == "server")
        #expect(producer["parentSpanId"] as? String == server["spanId"] as? String)
        #expect(sent["traceparent"] == "00-4bf92f3577b34da6a3ce929d0e0e4736-\(producer["spanId"] as! String)-01")
        #expect(server["http.route"] as? String == "/approve/{token}")
        #expect(server["http.response.status_code"] as? String == "200")
        #expect(Double(server["durationMs"] as? String ?? "") != nil)
        // Only named attributes are written: the path with the link token and the user agent stay out.
        #expect(!lines.text.contains("SECRET-TOKEN"))
        #expect(!lines.text.contains("Mozilla"))
    }

    @Test func aMalformedOrMissingTraceparentStartsANewTrace() {
        let tracer = GreenlightTracer(logger: nil)
        var context = ServiceContext.topLevel
        tracer.extract(["traceparent": "00-zzzz-00f067aa0ba902b7-01"], into: &context, using: DictionaryExtractor())
        #expect(context.traceContext == nil)
        let span = tracer.startSpan("work", context: context, ofKind: .internal)
        #expect(span.parentSpanId == nil)
        #expect(span.context.traceContext != nil)
        span.end()
    }

    @Test func healthProbesWriteNoSpanAndErrorsAreMarked() async throws {
        let lines = Lines()
        let tracer = GreenlightTracer(logger: Logger(label: "svc") { lines.handler($0) })
        tracer.withSpan("/readyz", ofKind: .server) { $0.attributes["http.route"] = "/readyz" }
        struct Refused: Error {}
        #expect(throws: Refused.self) {
            try tracer.withSpan("publish approvals.requests", ofKind: .producer) { _ in throw Refused() }
        }
        let spans = lines.spans
        #expect(spans.map { $0["span"] as? String } == ["publish approvals.requests"])
        #expect(spans.first?["status"] as? String == "error")
        #expect(spans.first?["errorTypes"] as? String == "Refused")
    }

    @Test func linesWrittenInsideASpanCarryItsIds() async throws {
        let lines = Lines()
        let logger = Logger(label: "svc") { lines.handler($0) }
        let tracer = GreenlightTracer(logger: nil)
        let spanId = await tracer.withSpan("process approvals.requests", ofKind: .consumer) { span in
            await ServiceContext.withValue(span.context) {
                logger.info("Approval workflow started")
            }
            return span.context.traceContext!.spanId
        }
        let line = try #require(lines.all.first)
        #expect(line["spanId"] as? String == spanId)
        #expect((line["traceId"] as? String)?.count == 32)
    }

    @Test func aKafkaMessageCarriesTheContextThroughItsHeaders() throws {
        let tracer = GreenlightTracer(logger: nil)
        let span = tracer.startSpan("publish", context: .topLevel, ofKind: .producer)
        var headers: [KafkaHeader] = []
        tracer.inject(span.context, into: &headers, using: KafkaHeadersInjector())
        let message = KafkaMessage(topic: "t", partition: 0, offset: 0, key: nil, value: [], headers: headers)
        var received = ServiceContext.topLevel
        tracer.extract(message, into: &received, using: KafkaMessageExtractor())
        #expect(received.traceContext == span.context.traceContext)
    }
}

struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}

struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}
