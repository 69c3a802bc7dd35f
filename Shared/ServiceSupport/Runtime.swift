import Foundation
import GreenlightModels
import Hummingbird
import Kafka
import Logging
import NIOCore
import Postgres
import ServiceLifecycle

/// Logging for every executable: one line per event on standard error, at the configured level, as JSON
/// (`GREENLIGHT_LOG_FORMAT=json`, the default) or as text for people (`text`).
public enum GreenlightLogging {
    public enum Format: String, Sendable {
        case json
        case text
    }

    /// Every line written inside a trace span also carries the span's `traceId` and `spanId`.
    public static func bootstrap(level: Logger.Level, format: Format = .json) {
        LoggingSystem.bootstrap(
            { label, provider in
                switch format {
                case .json:
                    var handler = JSONLogHandler(service: label, level: level)
                    handler.metadataProvider = provider
                    return handler
                case .text:
                    var handler = StreamLogHandler.standardError(label: label, metadataProvider: provider)
                    handler.logLevel = level
                    return handler
                }
            }, metadataProvider: .greenlightTrace)
    }

    public static func bootstrap(_ common: CommonConfiguration) {
        bootstrap(level: common.logLevel, format: common.logFormat)
    }
}

/// Runs a service's long-lived parts in one `ServiceGroup` that starts them in order and, on SIGTERM or SIGINT,
/// shuts them down in reverse order within a bounded grace period.
public enum ServiceRunner {
    public static func run(_ services: [any Service], logger: Logger, gracePeriod: Duration = .seconds(15))
        async throws
    {
        // A part that fails (a fatal Kafka error, say) stops the rest gracefully, as SIGTERM would: requests in
        // hand are answered before the process exits with the error. The tracer's exporter is first, so that it stops
        // last and sends the spans the others ended while stopping. The heap trimmer gives back what bursts freed.
        var configuration = ServiceGroupConfiguration(
            services: ([GreenlightTracing.takeService()].compactMap { $0 } + services + [HeapTrimmer(logger: logger)]).map {
                ServiceGroupConfiguration.ServiceConfiguration(service: $0, failureTerminationBehavior: .gracefullyShutdownGroup)
            },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        configuration.maximumGracefulShutdownDuration = gracePeriod
        // And if something then ignores cancellation (a blocking call into a broker that is gone, say), the process
        // still ends rather than hanging until it is killed.
        configuration.maximumCancellationDuration = .seconds(5)
        try await ServiceGroup(configuration: configuration).run()
    }

    /// Prints why the configuration is unusable and exits with status 78 (EX_CONFIG).
    public static func exitForBadConfiguration(_ error: any Error, service: String) -> Never {
        FileHandle.standardError.write(Data("\(service): \(error)\n".utf8))
        exit(78)
    }
}

/// A `Service` around a closure: `run` does the work; `shutdown` runs after graceful shutdown is requested.
public struct ClosureService: Service {
    let name: String
    let body: @Sendable () async throws -> Void

    public init(_ name: String, _ body: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.body = body
    }

    public func run() async throws {
        try await body()
    }
}

/// Flushes the producer when the service group shuts down (it is the last thing to stop). A producer that hits a
/// fatal error (fenced, or out of sequence) can send nothing more: the service then stops with that error — exit
/// status 1 and one critical line — so that its supervisor starts it afresh, rather than running on unable to
/// publish (its `/readyz` says so meanwhile).
public struct KafkaProducerService: Service {
    let producer: KafkaProducer

    public init(_ producer: KafkaProducer) {
        self.producer = producer
    }

    public func run() async throws {
        let fatal: KafkaError? = await withTaskGroup(of: KafkaError?.self) { group in
            group.addTask { try? await gracefulShutdown(); return nil }
            group.addTask { await producer.waitForFatalError() }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if let fatal { throw fatal }
        await producer.shutdown()
    }
}

/// Closes the Postgres pool when the service group shuts down.
public struct PostgresPoolService: Service {
    let pool: PostgresPool

    public init(_ pool: PostgresPool) {
        self.pool = pool
    }

    public func run() async throws {
        try? await gracefulShutdown()
        pool.close()
    }
}

/// Runs `body` until it returns or graceful shutdown begins, whichever is first (polling loops use this). The
/// `CancellationError` a loop throws when shutdown cancels it (from a sleep, say) is the normal way out, not a
/// failure: it must not reach the service group, which would end the process with a crash.
public func cancelWhenShuttingDown(_ body: @escaping @Sendable () async throws -> Void) async throws {
    do {
        try await cancelWhenGracefulShutdown { try await body() }
    } catch is CancellationError where Task.isShuttingDownGracefully || Task.isCancelled {
        return
    }
}

/// Runs `body`; when graceful shutdown begins, calls `onShutdown` (which should make `body` finish soon).
public func runUntilShutdown(
    _ body: @escaping @Sendable () async throws -> Void, onShutdown: @escaping @Sendable () -> Void
) async throws {
    try await withGracefulShutdownHandler {
        try await body()
    } onGracefulShutdown: {
        onShutdown()
    }
}

/// What every executable's `main` does: load the configuration (exit 78 naming each bad variable), bootstrap
/// logging, metrics and tracing, run the service.
public enum ServiceMain {
    public static func run<Configuration>(
        _ name: String, load: ([String: String]) throws -> Configuration, common: (Configuration) -> CommonConfiguration,
        run: (Configuration, Logger) async throws -> Void
    ) async throws {
        let configuration: Configuration
        do {
            configuration = try load(ProcessInfo.processInfo.environment)
        } catch {
            ServiceRunner.exitForBadConfiguration(error, service: name)
        }
        GreenlightLogging.bootstrap(common(configuration))
        GreenlightMetrics.bootstrap()
        let logger = Logger(label: name)
        do {
            try GreenlightTracing.bootstrap(common(configuration).tracing, logger: logger)
        } catch {
            ServiceRunner.exitForBadConfiguration(error, service: name)
        }
        do {
            try await run(configuration, logger)
        } catch {
            // A service that cannot go on says why, once, and exits 1: never a crash with a backtrace.
            logger.critical("\(name) stopped: \(explain(error, common: common(configuration)))")
            exit(1)
        }
    }

    /// What went wrong, with the setting to change when one is to blame.
    static func explain(_ error: any Error, common: CommonConfiguration) -> String {
        if let error = error as? IOError, error.errnoCode == EADDRINUSE || error.errnoCode == EADDRNOTAVAIL {
            let problem = error.errnoCode == EADDRINUSE ? "something else is listening there" : "no interface has that address"
            return "cannot listen on \(common.httpHost):\(common.httpPort): \(problem); set GREENLIGHT_HTTP_PORT to a free port "
                + "(or GREENLIGHT_HTTP_HOST to an address of this machine)"
        }
        if error is CancellationError {
            return "it did not finish shutting down within its grace period, so its remaining work was cancelled"
        }
        return "\(error)"
    }
}

/// Opens the service's connection pool and brings the schema up to date (or, for a service that does not own the
/// schema, checks that its owner has), retrying while Postgres is not reachable or the schema not ready yet
/// (services may start before either).
public func openMigratedPool(
    _ configuration: PostgresConfiguration, maxConnections: Int = 8, logger: Logger,
    migrate: (PostgresPool, Logger) async throws -> Void
) async throws -> PostgresPool {
    let pool = PostgresPool(configuration: configuration, maxConnections: maxConnections, logger: logger)
    try await Backoff().retrying("Migrating the database", logger: logger) { try await migrate(pool, logger) }
    return pool
}
