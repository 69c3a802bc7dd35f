import ApprovalStore
import DurableExecution
import Foundation
import GreenlightModels
import Hummingbird
import Kafka
import Logging
import Postgres
import ServiceLifecycle
import ServiceSupport

/// Builds and runs the callback receiver: the link pages over a read-only Postgres pool and a Kafka producer.
public enum CallbacksService {
    public static func run(configuration: CallbacksConfiguration, logger: Logger) async throws {
        logger.info("Starting greenlight-callbacks", metadata: ["configuration": "\(configuration.banner)"])
        let producer = try KafkaProducer(configuration: configuration.common.kafka, logger: logger)
        // Reads the orchestrator's tables, which it does not own: it waits until they are at this build's version. The
        // inbox's own tables it migrates itself when its role may (else `greenlight migrate` has).
        let pool = try await openMigratedPool(configuration.database, logger: logger, migrate: PortalSchema.prepare)

        let checks = [ReadinessCheck.kafka(producer), ReadinessCheck.postgres(pool)]
        let publisher = OutboxFallbackPublisher(producer: producer, pool: pool, logger: logger)
        // A click's page waits on this connection's LISTEN for its verdict (which needs no privilege: the receiver's
        // role may only read).
        let verdicts = PostgresListener(
            configuration: configuration.database, channels: [VerdictChannel.name, OutcomeChannel.name], logger: logger)
        let links = LinkRoutes(
            tokens: ApprovalReader(pool: pool), publisher: publisher, publicURL: configuration.publicURL,
            templates: configuration.templates,
            limiter: configuration.linkRateLimit > 0 ? RateLimiter(perMinute: configuration.linkRateLimit) : nil,
            trustForwardedFor: configuration.trustForwardedFor, verdictWait: configuration.verdictWait, verdicts: verdicts)
        let sessions = PortalSessions(pool: pool, settings: configuration.portal, publicURL: configuration.publicURL)
        let portal = PortalRoutes(
            sessions: sessions,
            reader: ApprovalReader(pool: pool), publisher: publisher, templates: configuration.templates,
            trustForwardedFor: configuration.trustForwardedFor, verdictWait: configuration.verdictWait)
        let slack = configuration.slackSigningSecret.map { secret in
            SlackInteractionRoutes(
                tokens: ApprovalReader(pool: pool), publisher: publisher, signingSecret: secret, slack: configuration.slack)
        }
        let api = CallbackAPIRoutes(
            callbacks: DurableReader(pool: pool), publisher: publisher, apiKeys: configuration.apiKeys,
            rules: ApprovalReader(pool: pool))
        // The operator console, beside the link pages on the public side: every page needs an admin key or an
        // administrator signed in through the portal.
        let console = ConsoleRoutes(
            authorizer: PortalConsoleAuthorizer(keys: BearerKeyConsoleAuthorizer(apiKeys: configuration.apiKeys), sessions: sessions),
            backend: LiveConsoleBackend(pool: pool, kafka: configuration.common.kafka, producer: producer, logger: logger),
            publisher: publisher, templates: configuration.templates, links: links)

        var services: [any Service] = [
            PostgresPoolService(pool), KafkaProducerService(producer),
            ClosureService("verdict-listener") { try await cancelWhenShuttingDown { await verdicts.run() } },
        ]
        if let hour = configuration.portal.digestHour {
            services.append(DigestScheduler(pool: pool, publisher: publisher, hour: hour, logger: logger))
        }
        let host = configuration.common.httpHost
        let port = configuration.common.httpPort
        if let (internalHost, internalPort) = configuration.internalAddress {
            // The link pages and the console on the public port; what programs and monitoring use on the internal one.
            let publicRouter = makePublicRouter()
            links.register(on: publicRouter)
            portal.register(on: publicRouter)
            console.register(on: publicRouter)
            slack?.register(on: publicRouter)
            let internalRouter = makeServiceRouter(checks: checks)
            api.register(on: internalRouter)
            services.append(
                makeHTTPServer(router: publicRouter, host: host, port: port, serviceName: "greenlight-callbacks", logger: logger))
            services.append(
                makeHTTPServer(
                    router: internalRouter, host: internalHost, port: internalPort, serviceName: "greenlight-callbacks",
                    logger: logger, listening: "Internal port listening"))
        } else {
            let router = makeServiceRouter(checks: checks)
            links.register(on: router)
            portal.register(on: router)
            console.register(on: router)
            slack?.register(on: router)
            api.register(on: router)
            services.append(makeHTTPServer(router: router, host: host, port: port, serviceName: "greenlight-callbacks", logger: logger))
        }
        try await ServiceRunner.run(services, logger: logger)
    }
}
