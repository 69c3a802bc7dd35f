import Logging
import OTel
import ServiceLifecycle
import Synchronization
import Tracing

/// The process's tracer. With an exporter configured, swift-otel's, for traces only (metrics stay on swift-prometheus,
/// logs on `JSONLogHandler`): it makes W3C ids, propagates `traceparent`, and sends finished spans over OTLP/HTTP in
/// batches from a background service that flushes what is left when the service group shuts down. Without one,
/// `UnrecordedTracer`: the same ids and propagation, and nothing recorded.
public enum GreenlightTracing {
    private enum State {
        case idle
        case bootstrapped(any Service)
        case running
    }

    private static let state = Mutex(State.idle)

    /// Bootstraps the tracer once; later calls do nothing, so tests may call it freely.
    public static func bootstrap(_ configuration: TracingConfiguration, logger: Logger) throws {
        try state.withLock { state in
            guard case .idle = state else { return }
            guard configuration.exporting else {
                // Nothing would read a recorded span: ids only (`UnrecordedTracer`), and no background service.
                InstrumentationSystem.bootstrap(UnrecordedTracer())
                state = .running
                return
            }
            var otel = OTel.Configuration.default
            otel.serviceName = configuration.serviceName
            otel.logs.enabled = false
            otel.metrics.enabled = false
            otel.traces.exporter = .otlp
            otel.traces.otlpExporter.headers = configuration.headers
            // swift-otel's own messages (an export that failed, say) go to the service's log; `OTEL_LOG_LEVEL` can
            // lower the level.
            otel.diagnosticLogger = .custom(logger)
            otel.diagnosticLogLevel = .warning
            do {
                state = .bootstrapped(try OTel.bootstrap(configuration: otel, environment: configuration.environment))
            } catch {
                // Settings that passed `TracingConfiguration`'s checks and still do not work: a certificate file that
                // holds no certificate, say.
                throw ConfigurationError(
                    problems: ["the trace exporter cannot start (check the OTEL_EXPORTER_OTLP_* settings): \(error)"])
            }
        }
        if configuration.exporting {
            logger.info(
                "Exporting trace spans over OTLP/HTTP", metadata: ["serviceName": "\(configuration.serviceName)"])
        }
    }

    /// The tracer's background service, for the first service group that asks (`ServiceRunner` puts it first, so that
    /// it stops last, once every other part has ended its spans); nil before bootstrap and after it has been taken.
    public static func takeService() -> (any Service)? {
        state.withLock { state in
            guard case .bootstrapped(let service) = state else { return nil }
            state = .running
            return service
        }
    }
}
