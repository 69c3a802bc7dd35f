import Foundation
import GreenlightModels
import Hummingbird
import Kafka
import Logging
import Mail
import ServiceSupport

/// Builds and runs the notifier: a member of the `greenlight-notifier` consumer group (run several to share the
/// work) and a health endpoint.
public enum NotifierService {
    public static let consumerGroup = "greenlight-notifier"

    public static func run(configuration: NotifierConfiguration, logger: Logger) async throws {
        logger.info("Starting greenlight-notifier", metadata: ["configuration": "\(configuration.banner)"])
        let consumer = try KafkaConsumer(
            configuration: configuration.common.kafka, groupId: consumerGroup, topics: [Topic.notifications.rawValue],
            logger: logger)
        let producer = try KafkaProducer(configuration: configuration.common.kafka, logger: logger)
        let sender = NotificationSender(
            consumer: consumer, producer: producer,
            delivery: MailDelivery(smtp: configuration.smtp, logger: logger),
            webhook: WebhookDelivery(url: configuration.webhookURL, logger: logger),
            configuration: configuration, logger: logger)

        let router = makeServiceRouter(checks: [ReadinessCheck.kafka(consumer)])
        let server = makeHTTPServer(
            router: router, host: configuration.common.httpHost, port: configuration.common.httpPort,
            serviceName: "greenlight-notifier", logger: logger)

        try await ServiceRunner.run(
            [
                KafkaProducerService(producer),
                ClosureService("consumer-lag") {
                    try await cancelWhenShuttingDown { try await ConsumerLagGauge(consumer: consumer, logger: logger).run() }
                },
                ClosureService("notification-sender") {
                    try await runUntilShutdown {
                        try await sender.run()
                    } onShutdown: {
                        Task { await consumer.close() }
                    }
                },
                server,
            ], logger: logger)
    }
}
