import Foundation
import GreenlightModels
import Hummingbird
import HummingbirdTesting
import Intake
import Kafka
import Logging
import ServiceSupport
import Synchronization
import Testing
import Tracing

/// The tracer as the services bootstrap it with no exporter configured (`UnrecordedTracer`): W3C ids, `traceparent` in
/// and out of HTTP and Kafka, Greenlight's `TraceContext` values in and out of spans, and trace ids on log lines. What
/// reaches a collector (swift-otel's tracer) is tested end to end (`TraceExportTests`).
struct TracingTests {
    /// The process's tracer, bootstrapped once for every test here, with its background service running.
    static let bootstrapped: Void = {
        var reader = EnvironmentReader([:])
        let configuration = CommonConfiguration.read(&reader, service: "greenlight-tests", defaultPort: 0)
        try! GreenlightTracing.bootstrap(configuration.tracing, logger: Logger(label: "tracing-tests"))
        if let service = GreenlightTracing.takeService() { Task { try await service.run() } }
    }()

    init() { Self.bootstrapped }

    final class Lines: Sendable {
        let raw = Mutex<[String]>([])
        var logger: Logger {
            Logger(label: "svc") { [self] label in
                var handler = JSONLogHandler(service: label, level: .info) { line in
                    self.raw.withLock { $0.append(line) }
                }
                handler.metadataProvider = .greenlightTrace
                return handler
            }
        }
        var all: [[String: Any]] {
            raw.withLock { $0 }.compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
            }
        }
    }

    @Test func aSpanContinuingAStoredTraceIsItsChild() async throws {
        let stored = try #require(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
        #expect(ServiceContext.continuing(stored).traceContext == stored)
        let inside = await inSpan("decide by link", continuing: stored) { $0 }
        #expect(inside.traceId == stored.traceId)
        #expect(inside.spanId != stored.spanId)
        #expect(inside.sampled)
    }

    @Test func linesWrittenInsideASpanCarryItsIds() async throws {
        let lines = Lines()
        let logger = lines.logger
        logger.info("outside")
        let trace = withSpan("process approvals.requests", ofKind: .consumer) { span in
            logger.info("Approval workflow started")
            return span.context.traceContext
        }
        let spanTrace = try #require(trace)
        let all = lines.all
        try #require(all.count == 2)
        #expect(all[0]["traceId"] == nil)
        #expect(all[1]["traceId"] as? String == spanTrace.traceId)
        #expect(all[1]["spanId"] as? String == spanTrace.spanId)
    }

    @Test func aKafkaMessageCarriesTheContextThroughItsHeaders() async throws {
        let sent = try #require(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
        var headers: [KafkaHeader] = []
        InstrumentationSystem.instrument.inject(
            ServiceContext.continuing(sent), into: &headers, using: KafkaHeadersInjector())
        #expect(headers.map(\.name) == ["traceparent"])
        let message = KafkaMessage(
            topic: "approvals.requests", partition: 0, offset: 0, key: nil, value: [], headers: headers)
        #expect(message.serviceContext.traceContext == sent)
        let handled = await message.withConsumerSpan("process approvals.requests") { $0 }
        #expect(handled.traceId == sent.traceId)
        #expect(handled.spanId != sent.spanId)
    }

    @Test func aMalformedTraceparentStartsANewTrace() async throws {
        for value in ["00-zzzz-00f067aa0ba902b7-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"] {
            let message = KafkaMessage(
                topic: "t", partition: 0, offset: 0, key: nil, value: [],
                headers: [KafkaHeader(name: "traceparent", string: value)])
            #expect(message.serviceContext.traceContext == nil)
            let handled = await message.withConsumerSpan("process t") { $0 }
            #expect(!value.contains(handled.traceId))
        }
    }

    /// The server span continues the caller's trace (a well-formed `traceparent` in any case), starts one for a
    /// malformed header, and is not made for health probes.
    @Test func theServerSpanContinuesTheCallersTraceExceptOnProbes() async throws {
        let router = Router(context: GreenlightRequestContext.self)
        router.add(middleware: ServerSpanMiddleware())
        let traced: @Sendable (Request, GreenlightRequestContext) async throws -> String = { _, _ in
            ServiceContext.current?.traceContext?.traceparent ?? "none"
        }
        router.get("work", use: traced)
        router.get("healthz", use: traced)
        try await Application(router: router).test(.router) { client in
            let upper = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"
            try await client.execute(uri: "/work", method: .get, headers: [.traceparent: upper]) { response in
                let trace = try #require(TraceContext(traceparent: String(buffer: response.body)))
                #expect(trace.traceId == "4bf92f3577b34da6a3ce929d0e0e4736")
                #expect(trace.spanId != "00f067aa0ba902b7")
            }
            try await client.execute(uri: "/work", method: .get, headers: [.traceparent: "garbage"]) { response in
                let trace = try #require(TraceContext(traceparent: String(buffer: response.body)))
                #expect(trace.traceId != "4bf92f3577b34da6a3ce929d0e0e4736")
            }
            try await client.execute(uri: "/healthz", method: .get, headers: [.traceparent: upper]) { response in
                #expect(String(buffer: response.body) == "none")
            }
        }
    }

    /// Without an exporter nothing is recorded (swift-otel's tracer recorded every span and dropped it), and the ids
    /// and flags are what a W3C tracer makes: a new trace is sampled, a continued one keeps its parent's flag.
    @Test func withoutAnExporterSpansRecordNothingAndKeepTheirParentsFlag() async throws {
        let root = withSpan("intake POST /v1/requests", ofKind: .server) { span in
            #expect(!span.isRecording)
            return span.context.traceContext
        }
        #expect(try #require(root).sampled)
        let unsampled = try #require(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"))
        let child = await inSpan("decide by link", continuing: unsampled) { $0 }
        #expect(child.traceId == unsampled.traceId)
        #expect(child.spanId != unsampled.spanId)
        #expect(!child.sampled)
        let grandchild = withSpan("publish", context: .continuing(child), ofKind: .producer) { span in
            #expect(!span.isRecording)
            return span.context.traceContext
        }
        #expect(grandchild?.traceId == unsampled.traceId)
        #expect(grandchild?.sampled == false)
    }

    @Test func withoutAnExporterConfiguredNothingIsExported() throws {
        var reader = EnvironmentReader([:])
        #expect(!CommonConfiguration.read(&reader, service: "svc", defaultPort: 0).tracing.exporting)
        #expect(reader.problems.isEmpty)
        #expect(!reader.banner.contains("OTEL_"))
    }

    @Test func anEndpointOrTheOTLPExporterTurnsExportOn() throws {
        let cases: [([String: String], Bool)] = [
            (["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"], true),
            (["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://collector.example.com/v1/traces"], true),
            (["OTEL_TRACES_EXPORTER": "otlp"], true),
            (["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"], false),
            (["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"], false),
        ]
        for (environment, exporting) in cases {
            var reader = EnvironmentReader(environment)
            let tracing = CommonConfiguration.read(&reader, service: "greenlight-intake", defaultPort: 0).tracing
            #expect(reader.problems.isEmpty, "\(environment): \(reader.problems)")
            #expect(tracing.exporting == exporting, "\(environment)")
            #expect(tracing.serviceName == "greenlight-intake")
        }
        var reader = EnvironmentReader(["OTEL_SERVICE_NAME": "approvals-intake"])
        #expect(
            CommonConfiguration.read(&reader, service: "greenlight-intake", defaultPort: 0).tracing.serviceName
                == "approvals-intake")
    }

    /// swift-otel would log each of these and carry on with its default, or stop the process (gRPC, baggage, an
    /// X-Ray sampler); the service refuses to start instead, naming every one.
    @Test func everyUnusableOTelSettingIsNamedAtStart() throws {
        let bad = [
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/xml",
            "OTEL_TRACES_EXPORTER": "zipkin", "OTEL_PROPAGATORS": "tracecontext,baggage", "OTEL_TRACES_SAMPLER": "xray",
            "OTEL_TRACES_SAMPLER_ARG": "2", "OTEL_BSP_SCHEDULE_DELAY": "-1", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "0",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318", "OTEL_EXPORTER_OTLP_COMPRESSION": "brotli",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "soon", "OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem",
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY": "/etc/hostname", "OTEL_RESOURCE_ATTRIBUTES": "team",
            "OTEL_SDK_DISABLED": "maybe", "OTEL_LOG_LEVEL": "loud", "GREENLIGHT_TRACING": "log",
        ]
        #expect {
            try IntakeConfiguration.load(bad.merging(ConfigurationTests.keys) { a, _ in a })
        } throws: { error in
            let text = "\(error)"
            for name in bad.keys where !text.contains(name) { Issue.record("\(name) missing from: \(text)") }
            return text.contains("OTLP/HTTP only") && text.contains("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE")
        }
    }

    /// Exporter headers often hold a credential: masked in the banner, never quoted in an error.
    @Test func exporterHeadersAreNeverShown() throws {
        let secret = "Bearer%20s3cr3t-token"
        var reader = EnvironmentReader(["OTEL_EXPORTER_OTLP_HEADERS": "Authorization=\(secret)"])
        _ = CommonConfiguration.read(&reader, service: "svc", defaultPort: 0)
        #expect(reader.problems.isEmpty)
        #expect(reader.banner.contains("OTEL_EXPORTER_OTLP_HEADERS=***"))
        #expect(!reader.banner.contains("s3cr3t"))
        var malformed = EnvironmentReader(["OTEL_EXPORTER_OTLP_TRACES_HEADERS": "s3cr3t-token"])
        _ = CommonConfiguration.read(&malformed, service: "svc", defaultPort: 0)
        #expect(malformed.problems.count == 1)
        #expect(
            malformed.problems.allSatisfy { $0.contains("OTEL_EXPORTER_OTLP_TRACES_HEADERS") && !$0.contains("s3cr3t") }
        )
    }
}
