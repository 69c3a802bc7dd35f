import ApprovalStore
import DurableExecution
import Foundation
import GreenlightModels
import Hummingbird
import Kafka
import Logging
import Postgres
import ServiceSupport

/// Builds and runs the callback receiver: the link pages over a read-only Postgres pool and a Kafka producer.
public enum CallbacksService {
    public static func run(configuration: CallbacksConfiguration, logger: Logger) async throws {
        logger.info("Starting greenlight-callbacks", metadata: ["configuration": "\(configuration.banner)"])
        let producer = try KafkaProducer(configuration: configuration.common.kafka, logger: logger)
        let pool = try await openMigratedPool(configuration.database, logger: logger, migrate: GreenlightDatabase.migrate)

        let router = makeServiceRouter(checks: [ReadinessCheck.kafka(producer), ReadinessCheck.postgres(pool)])
        let publisher = OutboxFallbackPublisher(producer: producer, pool: pool, logger: logger)
        LinkRoutes(
            tokens: ApprovalReader(pool: pool), publisher: publisher, publicURL: configuration.publicURL,
            limiter: configuration.linkRateLimit > 0 ? RateLimiter(perMinute: configuration.linkRateLimit) : nil,
            trustForwardedFor: configuration.trustForwardedFor
        ).register(on: router)
        CallbackAPIRoutes(callbacks: DurableReader(pool: pool), publisher: publisher, apiKeys: configuration.apiKeys)
            .register(on: router)

        let server = makeHTTPServer(
            router: router, host: configuration.common.httpHost, port: configuration.common.httpPort,
            serviceName: "greenlight-callbacks", logger: logger)
        try await ServiceRunner.run(
            [PostgresPoolService(pool), KafkaProducerService(producer), server], logger: logger)
    }
}
