import ApprovalStore
import Foundation
import GreenlightModels
import Hummingbird
import Kafka
import Logging
import Postgres
import ServiceSupport

/// Builds and runs intake: the HTTP API over a Kafka producer and a read-only Postgres pool.
public enum IntakeService {
    public static func run(configuration: IntakeConfiguration, logger: Logger) async throws {
        logger.info("Starting greenlight-intake", metadata: ["configuration": "\(configuration.banner)"])
        let producer = try KafkaProducer(configuration: configuration.common.kafka, logger: logger)
        // Reads the orchestrator's tables, which it does not own: it waits until they are at this build's version.
        let pool = try await openMigratedPool(configuration.database, logger: logger, migrate: GreenlightDatabase.requireCurrent)

        // Long-polls wait on this connection's LISTEN (which needs no privilege: intake's role may only read).
        let outcomes = PostgresListener(
            configuration: configuration.database, channel: OutcomeChannel.name,
            maxSubscriptions: configuration.maxOutcomeWaiters, logger: logger)

        let router = makeServiceRouter(checks: [ReadinessCheck.kafka(producer), ReadinessCheck.postgres(pool)])
        let routes = IntakeRoutes(
            publisher: OutboxFallbackPublisher(producer: producer, pool: pool, logger: logger),
            statuses: LiveStatusReader(pool: pool),
            defaultApprover: configuration.defaultApprover, defaultChannel: configuration.defaultChannel,
            apiKeys: configuration.apiKeys, fourEyes: configuration.fourEyes,
            submitLimiter: configuration.submitRateLimit > 0 ? RateLimiter(perMinute: configuration.submitRateLimit) : nil,
            recipientLimiter: configuration.recipientRateLimit > 0
                ? RateLimiter(configuration.recipientRateLimit, per: .seconds(3600)) : nil,
            callbackAllowPrivate: configuration.callbackAllowPrivate
        )
        routes.register(on: router)
        routes.registerOutcome(on: router, listener: outcomes)
        routes.registerDelegations(on: router, reader: ApprovalReader(pool: pool))

        let server = makeHTTPServer(
            router: router, host: configuration.common.httpHost, port: configuration.common.httpPort,
            serviceName: "greenlight-intake", logger: logger)
        // Started in this order, stopped in reverse: the HTTP server stops taking requests before the producer
        // flushes and the pool closes.
        try await ServiceRunner.run(
            [
                PostgresPoolService(pool), KafkaProducerService(producer),
                ClosureService("outcome-listener") { try await cancelWhenShuttingDown { await outcomes.run() } }, server,
            ], logger: logger)
    }
}
