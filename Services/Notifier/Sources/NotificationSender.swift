import Foundation
import GreenlightModels
import Kafka
import Logging
import Tracing
import Metrics
import Mail
import ServiceSupport

/// Consumes `approvals.notifications` and emails each approver. The offset is committed after the server took
/// the message; temporary failures (4xx, connection errors) are retried with back-off, permanent ones (5xx,
/// refused login) go to `approvals.dlq` with the reason. Each outcome — delivered, retrying, failed — is reported
/// back to the orchestrator as a `NotificationDelivery` on `approvals.decisions`.
struct NotificationSender: Sendable {
    let consumer: KafkaConsumer
    let producer: KafkaProducer
    let delivery: MailDelivery
    let webhook: WebhookDelivery
    let configuration: NotifierConfiguration
    let logger: Logger

    func run() async throws {
        // Partitions side by side, each on its own SMTP connection (see `MailDelivery`).
        let logger = self.logger
        try await consumer.forEachMessageByPartition({ await handle($0) }) { _, error in
            logger.warning("Offset not committed; the email may be sent again", metadata: ["error": "\(error)"])
        }
    }

    func handle(_ message: KafkaMessage) async {
        let notification: NotificationRequested
        let token: String
        do {
            (notification, token) = try Self.decode(message.value, secret: configuration.linkSecret)
        } catch {
            await deadLetter(message, reason: "not a NotificationRequested: \(DecodingErrorDescription.describe(error))")
            return
        }
        await message.withConsumerSpan("process \(message.topic)") { trace in
            await deliver(notification, token: token, message: message, trace: trace)
        }
    }

    /// Sends one notification (with retries), reports how it went, and dead-letters it if it failed for good.
    func deliver(_ notification: NotificationRequested, token: String, message: KafkaMessage, trace: TraceContext) async {
        let metadata: Logger.Metadata = [
            "requestId": "\(notification.requestId)", "eventId": "\(notification.eventId)",
            "executionId": "\(notification.executionId)", "traceId": "\(trace.traceId)",
        ]
        let publisher = KafkaEventPublisher(producer: producer)
        @Sendable func report(_ result: NotificationDelivery.Result, attempt: Int, error: String?) async {
            let event = NotificationDelivery(
                requestId: notification.requestId, notificationId: notification.eventId, approver: notification.approver,
                kind: notification.kind ?? .request, result: result, attempt: attempt, error: error, at: Date())
            do {
                try await Backoff().retrying("Reporting a delivery", logger: logger, metadata: metadata, giveUp: { _, attempt in attempt >= 5 }) {
                    try await publisher.publish(event, trace: trace)
                }
            } catch {
                logger.error("Delivery report not published", metadata: metadata.merging(["error": "\(error)"]) { a, _ in a })
            }
        }
        let channel = notification.channel ?? .email
        let started = ContinuousClock.now
        let outcome: DeliveryResult<DeliveryFailure>
        // greenlight_emails_total / greenlight_email_send_seconds, greenlight_webhooks_total / …_webhook_send_seconds
        let metric = channel == .email ? "email" : "webhook"
        switch channel {
        case .email:
            let mail = ApprovalEmail.make(
                for: notification, linkToken: token, publicURL: configuration.publicURL, from: configuration.mailFrom)
            outcome = await delivery.deliver(mail, lane: Int(message.partition), metadata: metadata) { attempt, error in
                await report(.retrying, attempt: attempt, error: "\(error)")
            }.described
        case .webhook:
            let body = WebhookMessage.make(for: notification, linkToken: token, publicURL: configuration.publicURL)
            outcome = await webhook.deliver(body, metadata: metadata) { attempt, error in
                await report(.retrying, attempt: attempt, error: "\(error)")
            }.described
        }
        switch outcome {
        case .delivered(let attempts):
            Metrics.Timer(label: "greenlight_\(metric)_send_seconds").record(duration: ContinuousClock.now - started)
            Counter(label: "greenlight_\(metric)s_total", dimensions: [("result", "sent")]).increment()
            logger.info("Approver notified", metadata: metadata.merging(["channel": "\(channel.rawValue)"]) { a, _ in a })
            await report(.delivered, attempt: attempts, error: nil)
        case .failed(let error, let attempts):
            Counter(label: "greenlight_\(metric)s_total", dimensions: [("result", "failed")]).increment()
            await report(.failed, attempt: attempts, error: error.description)
            await deadLetter(
                message, reason: "the \(channel.rawValue) notification to \(notification.approver) was not delivered: \(error)")
        }
    }

    /// Version 1 of the event, which carried the token itself: still read, so that messages written before an
    /// upgrade are delivered after it.
    struct NotificationRequestedV1: Decodable {
        var eventId: UUID
        var requestId: String
        var executionId: UUID
        var approver: String
        var linkToken: String
        var amount: Double
        var currency: String
        var description: String
        var requester: String?
        var submittedAt: Date
        var expiresAt: Date
    }

    /// The notification and the approver's link token: derived from the nonce (version 2), or as carried
    /// (version 1).
    static func decode(_ bytes: [UInt8], secret: LinkSecret) throws -> (NotificationRequested, token: String) {
        let decoder = GreenlightJSON.decoder()
        if let legacy = try? decoder.decode(NotificationRequestedV1.self, from: Data(bytes)) {
            let notification = NotificationRequested(
                eventId: legacy.eventId, requestId: legacy.requestId, executionId: legacy.executionId,
                approver: legacy.approver, tokenNonce: UUID(), amount: legacy.amount, currency: legacy.currency,
                description: legacy.description, requester: legacy.requester, submittedAt: legacy.submittedAt,
                expiresAt: legacy.expiresAt)
            return (notification, legacy.linkToken)
        }
        let notification = try decoder.decode(NotificationRequested.self, from: Data(bytes))
        return (notification, LinkToken.derive(secret: secret, nonce: notification.tokenNonce))
    }

    func deadLetter(_ message: KafkaMessage, reason: String) async {
        do {
            try await DeadLetterPublisher(producer: producer, service: "notifier", logger: logger)
                .publish(message, reason: reason)
        } catch {
            logger.error("Dead letter not published", metadata: ["error": "\(error)"])
        }
    }
}

/// Sends one email with retries: a temporary failure (4xx reply, connection trouble) is retried with
/// exponential back-off up to `maxAttempts`; a permanent one (5xx reply, refused login) is not.
struct MailDelivery: Sendable {
    typealias Result = DeliveryResult<SMTPError>

    /// One client (one reused SMTP connection) per lane: partitions are handled side by side, and a client sends
    /// one message at a time.
    let clients: [SMTPClient]
    let logger: Logger
    var maxAttempts = 8
    var initialDelay: Duration = .milliseconds(200)

    /// `willRetry` hears of each temporary failure that another attempt follows.
    init(smtp configuration: SMTPConfiguration, connections: Int = 4, logger: Logger, maxAttempts: Int = 8,
         initialDelay: Duration = .milliseconds(200)) {
        clients = (0..<max(1, connections)).map { _ in SMTPClient(configuration: configuration) }
        self.logger = logger
        self.maxAttempts = maxAttempts
        self.initialDelay = initialDelay
    }

    func deliver(
        _ mail: MailMessage, lane: Int = 0, metadata: Logger.Metadata = [:],
        willRetry: @Sendable (_ attempt: Int, SMTPError) async -> Void = { _, _ in }
    ) async -> Result {
        await RetryingDelivery(maxAttempts: maxAttempts, initialDelay: initialDelay, logger: logger).run(
            metadata: metadata, willRetry: willRetry,
            classify: { error in
                let smtp = error as? SMTPError ?? SMTPError(.connectionFailed, "\(error)")
                return (smtp, smtp.isPermanent)
            },
            gaveUp: SMTPError(.temporaryFailure, "gave up after \(maxAttempts) attempts")
        ) { try await clients[abs(lane) % clients.count].send(mail) }
    }
}

/// How a delivery ended.
enum DeliveryResult<Failure: Error & Sendable>: Sendable {
    /// Delivered on attempt N.
    case delivered(attempts: Int)
    /// Not delivered, after N attempts.
    case failed(Failure, attempts: Int)

    /// The same, with the failure as text (for reports).
    var described: DeliveryResult<DeliveryFailure> {
        switch self {
        case .delivered(let attempts): return .delivered(attempts: attempts)
        case .failed(let error, let attempts): return .failed(DeliveryFailure(description: "\(error)"), attempts: attempts)
        }
    }
}

/// A delivery failure, as text for reports and the dead-letter reason.
struct DeliveryFailure: Error, Sendable, CustomStringConvertible {
    var description: String
}

/// Tries a send up to `maxAttempts` times, with exponential back-off, while its failures are temporary.
struct RetryingDelivery: Sendable {
    let maxAttempts: Int
    let initialDelay: Duration
    let logger: Logger

    func run<Failure: Error & Sendable>(
        metadata: Logger.Metadata, willRetry: @Sendable (Int, Failure) async -> Void,
        classify: (any Error) -> (Failure, permanent: Bool), gaveUp: Failure, _ send: () async throws -> Void
    ) async -> DeliveryResult<Failure> {
        var delay = initialDelay
        for attempt in 1...maxAttempts {
            do {
                try await send()
                return .delivered(attempts: attempt)
            } catch {
                let (failure, permanent) = classify(error)
                guard !permanent, attempt < maxAttempts else { return .failed(failure, attempts: attempt) }
                logger.warning(
                    "Sending failed; retrying in \(delay)", metadata: metadata.merging(["error": "\(failure)"]) { a, _ in a })
                await willRetry(attempt, failure)
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(30))
            }
        }
        return .failed(gaveUp, attempts: maxAttempts)
    }
}
