import Foundation
import Hummingbird
import Logging
import Synchronization

/// A stand-in for an OpenTelemetry collector: takes OTLP/HTTP exports in JSON (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`)
/// on `POST /v1/traces` and keeps the spans. Point a service at it with `environment`.
public final class OTLPReceiver: Sendable {
    final class Store: Sendable {
        let spans = Mutex<[ExportedSpan]>([])
    }

    public let port: Int
    private let received: Store
    private let task: Task<Void, any Error>

    /// The settings that make a service export to this receiver, in batches sent every 200 ms.
    public var environment: [String: String] {
        [
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:\(port)", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        ]
    }

    /// Every span received so far.
    public var spans: [ExportedSpan] { received.spans.withLock { $0 } }

    public static func start() async throws -> OTLPReceiver {
        let received = Store()
        let router = Router()
        router.post("v1/traces") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: 16 << 20)
            guard request.headers[.contentType]?.hasPrefix("application/json") == true,
                let spans = ExportedSpan.decode(Data(body.readableBytesView))
            else { return Response(status: .badRequest) }
            received.spans.withLock { $0.append(contentsOf: spans) }
            // An empty ExportTraceServiceResponse: everything was accepted.
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: "{}")))
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            logger: TestEnvironment.logger("otlp-receiver"))
        let task = Task { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            throw ChildProcessError(description: "the OTLP receiver did not start")
        }
        return OTLPReceiver(port: port, received: received, task: task)
    }

    private init(port: Int, received: Store, task: Task<Void, any Error>) {
        self.port = port
        self.received = received
        self.task = task
    }

    public func stop() async {
        task.cancel()
        _ = await task.result
    }
}

/// One span as an OTLP export carried it, with its resource's `service.name`.
public struct ExportedSpan: Sendable, CustomStringConvertible {
    public var service: String
    public var name: String
    /// 32 and 16 lowercase hex digits, as in `traceparent`.
    public var traceId: String
    public var spanId: String
    public var parentSpanId: String?
    /// SpanKind's number: 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    public var kind: Int
    /// Every attribute's value as text.
    public var attributes: [String: String]

    public var description: String { "\(service) \(name) \(spanId) <- \(parentSpanId ?? "none")" }

    /// The spans of an `ExportTraceServiceRequest` in OTLP's JSON form; nil when it is not one.
    static func decode(_ body: Data) -> [ExportedSpan]? {
        guard let root = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
            let resourceSpans = root["resourceSpans"] as? [[String: Any]]
        else { return nil }
        return resourceSpans.flatMap { resource -> [ExportedSpan] in
            let resourceAttributes = attributes((resource["resource"] as? [String: Any])?["attributes"])
            let spans = (resource["scopeSpans"] as? [[String: Any]] ?? []).flatMap {
                $0["spans"] as? [[String: Any]] ?? []
            }
            return spans.compactMap { span in
                guard let name = span["name"] as? String, let traceId = hex(span["traceId"]),
                    let spanId = hex(span["spanId"])
                else { return nil }
                return ExportedSpan(
                    service: resourceAttributes["service.name"] ?? "", name: name, traceId: traceId, spanId: spanId,
                    parentSpanId: hex(span["parentSpanId"]), kind: span["kind"] as? Int ?? 0,
                    attributes: attributes(span["attributes"]))
            }
        }
    }

    /// OTLP/JSON says ids are hex; protobuf's JSON mapping, which swift-otel uses, writes bytes as base64. Either is
    /// read.
    static func hex(_ value: Any?) -> String? {
        guard let text = value as? String, !text.isEmpty else { return nil }
        if text.count == 32 || text.count == 16, text.allSatisfy(\.isHexDigit) { return text.lowercased() }
        guard let bytes = Data(base64Encoded: text) else { return nil }
        return bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func attributes(_ value: Any?) -> [String: String] {
        var result: [String: String] = [:]
        for attribute in value as? [[String: Any]] ?? [] {
            guard let key = attribute["key"] as? String,
                let value = (attribute["value"] as? [String: Any])?.values.first
            else { continue }
            result[key] = "\(value)"
        }
        return result
    }
}
