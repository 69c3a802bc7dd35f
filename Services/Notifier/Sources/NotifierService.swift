import DurableExecution
import Foundation
import GreenlightModels
import Hummingbird
import Kafka
import Logging
import Mail
import Metrics
import Postgres
import ServiceLifecycle
import ServiceSupport

/// Builds and runs the notifier: a member of the `greenlight-notifier` consumer group (run several to share the
/// work) that stores each notification in its delivery queue, senders that deliver from the queue (any notifier
/// sends any queued message), the reporter, and a health endpoint.
public enum NotifierService {
    public static let consumerGroup = "greenlight-notifier"

    public static func run(configuration: NotifierConfiguration, logger: Logger) async throws {
        logger.info("Starting greenlight-notifier", metadata: ["configuration": "\(configuration.banner)"])
        let pool = try await openMigratedPool(
            configuration.database, maxConnections: configuration.senders + 4, logger: logger
        ) { pool, logger in
            try await PostgresMigrator.migrate(
                pool, component: NotifierSchema.component, migrations: NotifierSchema.migrations, logger: logger)
        }
        let consumer = try KafkaConsumer(
            configuration: configuration.common.kafka, groupId: consumerGroup, topics: [Topic.notifications.rawValue],
            logger: logger)
        let producer = try KafkaProducer(configuration: configuration.common.kafka, logger: logger)
        let queue = DeliveryQueue(pool: pool, logger: logger)
        let wakeUp = WakeUpSignal()
        let slack = configuration.slack.map { settings in
            SlackDelivery(api: SlackWebAPI(settings: settings), store: SlackMessageStore(pool: pool), updates: WakeUpSignal())
        }
        let reporter = DeliveryReporter(queue: queue, producer: producer, logger: logger, retention: configuration.retention)
        let receiver = NotificationReceiver(
            consumer: consumer, producer: producer, queue: queue, configuration: configuration, wakeUp: wakeUp, logger: logger,
            slack: slack?.store)
        let webhook = WebhookPoster(url: configuration.webhookURL, logger: logger)
        let callbacks = CallbackDelivery(
            defaultSecret: configuration.callbackSecret, allowPrivate: configuration.callbackAllowPrivate)
        let schedule = Backoff(initial: configuration.retryInitialDelay, maximum: configuration.retryMaxDelay)
        // One SMTP connection per sender, reused from message to message.
        let senders = (0..<configuration.senders).map { _ in
            DeliveryWorker(
                queue: queue, smtp: SMTPClient(configuration: configuration.smtp), webhook: webhook, callbacks: callbacks,
                reporter: reporter,
                producer: producer, configuration: configuration, schedule: schedule, wakeUp: wakeUp, logger: logger,
                slack: slack)
        }
        let slackServices = try slack.map { try slackUpdates($0, configuration: configuration, schedule: schedule, logger: logger) } ?? []

        let router = makeServiceRouter(checks: [ReadinessCheck.kafka(consumer), ReadinessCheck.postgres(pool)])
        let server = makeHTTPServer(
            router: router, host: configuration.common.httpHost, port: configuration.common.httpPort,
            serviceName: "greenlight-notifier", logger: logger)

        try await ServiceRunner.run(
            [
                PostgresPoolService(pool),
                KafkaProducerService(producer),
                ClosureService("senders") {
                    try await cancelWhenShuttingDown {
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            for sender in senders { group.addTask { try await sender.run() } }
                            try await group.waitForAll()
                        }
                    }
                },
                ClosureService("delivery-reports") { try await cancelWhenShuttingDown { try await reporter.run() } },
                ClosureService("statistics") {
                    try await cancelWhenShuttingDown { await queue.statistics.renewWhenDue(on: pool, logger: logger) }
                },
                ClosureService("gauges") {
                    try await cancelWhenShuttingDown {
                        while !Task.isCancelled {
                            if let waiting = try? await queue.waiting() { Gauge(label: "greenlight_notifications_waiting").record(waiting) }
                            try await Task.sleep(for: .seconds(5))
                        }
                    }
                },
                ClosureService("consumer-lag") {
                    try await cancelWhenShuttingDown { try await ConsumerLagGauge(consumer: consumer, logger: logger).run() }
                },
                ClosureService("notification-receiver") {
                    try await runUntilShutdown {
                        try await receiver.run()
                    } onShutdown: {
                        Task { await consumer.close() }
                    }
                },
                server,
            ] + slackServices, logger: logger)
    }

    /// With Slack configured: the outcome reader (a consumer group of its own) and the updater of ended requests'
    /// messages.
    static func slackUpdates(
        _ slack: SlackDelivery, configuration: NotifierConfiguration, schedule: Backoff, logger: Logger
    ) throws -> [any Service] {
        let consumer = try KafkaConsumer(
            configuration: configuration.common.kafka, groupId: SlackOutcomeReceiver.consumerGroup,
            topics: [Topic.outcomes.rawValue], logger: logger)
        let outcomes = SlackOutcomeReceiver(consumer: consumer, store: slack.store, wakeUp: slack.updates, logger: logger)
        let updater = SlackMessageUpdater(
            api: slack.api, store: slack.store, schedule: schedule, wakeUp: slack.updates, logger: logger,
            retention: configuration.retention)
        return [
            ClosureService("slack-updater") { try await cancelWhenShuttingDown { try await updater.run() } },
            ClosureService("slack-outcomes") {
                try await runUntilShutdown {
                    try await outcomes.run()
                } onShutdown: {
                    Task { await consumer.close() }
                }
            },
        ]
    }
}
