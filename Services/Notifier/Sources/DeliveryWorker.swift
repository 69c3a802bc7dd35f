import DurableExecution
import Foundation
import GreenlightModels
import Kafka
import Logging
import Mail
import Metrics
import ServiceSupport

/// Delivers queued messages one at a time, on its own SMTP connection: claims the message that has waited longest
/// among those due, sends it once, and records how that went — sent (never to be sent again), tried again later
/// with back-off (a temporary failure: a 4xx reply, the server unreachable), or failed for good (a permanent
/// refusal such as 550, or the request's deadline passed). Each outcome is reported to the orchestrator.
///
/// The one window left: a sender that dies after the server accepted a message and before `sent` is recorded.
/// Its claim then runs out and the message goes again, with the same `Message-ID`, which mail clients fold into
/// one. The window lasts one Postgres round trip with its commit (measured in
/// `greenlight_email_unrecorded_seconds`).
struct DeliveryWorker: Sendable {
    let queue: DeliveryQueue
    let smtp: SMTPClient
    let webhook: WebhookPoster
    let callbacks: CallbackDelivery
    let reporter: DeliveryReporter
    let producer: KafkaProducer
    let configuration: NotifierConfiguration
    /// When a message that failed for now is tried again (`GREENLIGHT_NOTIFY_RETRY_INITIAL_MS`, `…_MAX_MS`).
    let schedule: Backoff
    let wakeUp: WakeUpSignal
    let logger: Logger
    var pollInterval: Duration = .milliseconds(500)
    /// Posts Slack direct messages, when Slack is configured.
    var slack: SlackDelivery? = nil

    func run() async throws {
        while !Task.isCancelled {
            do {
                if let claim = try await queue.claim() {
                    try await deliver(claim)
                    continue
                }
            } catch is CancellationError {
                return
            } catch {
                logger.warning("Delivering notifications failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            await wakeUp.wait(timeout: pollInterval)
        }
    }

    /// One attempt at a claimed message.
    func deliver(_ claim: DeliveryQueue.Claim) async throws {
        if claim.kind == .webhook { return try await deliverWebhook(claim) }
        if claim.kind == .signIn { return try await deliverSignIn(claim) }
        if claim.kind == .digest { return try await deliverDigest(claim) }
        if claim.kind == .slack { return try await deliverSlack(claim) }
        let notification: NotificationRequested
        let token: String
        do {
            (notification, token) = try NotificationDecoding.decode(Array(claim.payload.utf8), keys: configuration.linkKeys)
        } catch let error as NotificationDecoding.UnknownLinkKey {
            // Stored by a notifier that had the secret, or the keyring shrank while it waited: replayable once fixed.
            try await deadLetter(claim, notification: error.notification, reason: "the notification to \(error.notification.approver) cannot be sent: \(error)")
            try await finish(claim, .failed(error: "\(error)"), notification: error.notification)
            return
        } catch {
            try await finish(claim, .failed(error: "the stored notification cannot be read: \(error)"), notification: nil)
            return
        }
        // The span that received the notification is the parent of the one that delivers it.
        let trace = claim.trace.flatMap(TraceContext.init(traceparent:)) ?? TraceContext.continuing(nil)
        try await inSpan("deliver notification", continuing: trace) { trace in
            let channel = notification.channel ?? .email
            if claim.now >= claim.deadline {
                Counter(label: "greenlight_\(Self.metric(channel))s_total", dimensions: [("result", "expired")]).increment()
                try await finish(
                    claim, .failed(error: "the request's deadline passed before the \(channel.rawValue) could be delivered"),
                    notification: notification, trace: trace)
                return
            }
            let started = ContinuousClock.now
            let failure = await attempt(notification, token: token, channel: channel, claim: claim, trace: trace)
            let accepted = ContinuousClock.now
            guard let failure else {
                let report = try await record(claim, .sent)
                // From the server's acceptance to the record that it happened: the window in which a crash would
                // send this message again.
                Metrics.Timer(label: "greenlight_\(Self.metric(channel))_unrecorded_seconds").record(duration: ContinuousClock.now - accepted)
                Metrics.Timer(label: "greenlight_\(Self.metric(channel))_send_seconds").record(duration: accepted - started)
                Counter(label: "greenlight_\(Self.metric(channel))s_total", dimensions: [("result", "sent")]).increment()
                logger.info("Approver notified", metadata: metadata(notification, trace, ["channel": "\(channel.rawValue)"]))
                await reporter.publishRecorded(report, trace: trace)
                return
            }
            if failure.isPermanent {
                Counter(label: "greenlight_\(Self.metric(channel))s_total", dimensions: [("result", "failed")]).increment()
                let report = try await record(claim, .failed(error: failure.description))
                // In the dead-letter topic (to replay once the address is fixed) before the orchestrator hears of it.
                try await deadLetter(
                    claim, notification: notification,
                    reason: "the \(channel.rawValue) notification to \(notification.approver) was not delivered: \(failure)")
                logger.error("An approver could not be notified", metadata: metadata(notification, trace, ["error": "\(failure)"]))
                await reporter.publishRecorded(report, trace: trace)
                return
            }
            let delay = schedule.delaySeconds(afterAttempt: claim.attempt)
            Counter(label: "greenlight_\(Self.metric(channel))s_total", dimensions: [("result", "retried")]).increment()
            logger.warning(
                "Sending failed; trying again later",
                metadata: metadata(
                    notification, trace, ["attempt": "\(claim.attempt)", "retryInSeconds": "\(Int(delay.rounded(.up)))", "error": "\(failure)"]))
            try await finish(claim, .retry(error: failure.description, after: delay), notification: notification, trace: trace)
        }
    }

    /// Sends once, keeping the claim renewed meanwhile; nil when the message was accepted.
    func attempt(
        _ notification: NotificationRequested, token: String, channel: NotificationChannel, claim: DeliveryQueue.Claim,
        trace: TraceContext
    ) async -> DeliveryFailure? {
        await keepingClaim(claim, whileCancelled: DeliveryFailure(description: "the send was cancelled", isPermanent: false)) {
            switch channel {
            case .email:
                let mail: MailMessage
                switch notification.kind {
                case .receipt:
                    mail = ReceiptEmail.make(for: notification, from: configuration.mailFrom, templates: configuration.templates)
                case .delegated:
                    mail = DelegationNoticeEmail.make(for: notification, from: configuration.mailFrom, templates: configuration.templates)
                default:
                    mail = ApprovalEmail.make(
                        for: notification, linkToken: token, publicURL: configuration.publicURL, from: configuration.mailFrom,
                        templates: configuration.templates)
                }
                do {
                    try await smtp.send(mail)
                    return nil
                } catch {
                    let smtpError = error as? SMTPError ?? SMTPError(.connectionFailed, "\(error)")
                    return DeliveryFailure(description: "\(smtpError)", isPermanent: smtpError.isPermanent)
                }
            case .webhook:
                let body = WebhookMessage.make(for: notification, linkToken: token, publicURL: configuration.publicURL)
                do throws(WebhookError) {
                    try await webhook.post(body)
                    return nil
                } catch {
                    return DeliveryFailure(description: "\(error)", isPermanent: error.isPermanent)
                }
            }
        }
    }

    /// Runs one send while renewing the claim: a long send keeps it; a sender that died loses it within one lease.
    /// `whileCancelled` is the answer when the task is cancelled before the send ends.
    func keepingClaim<Result: Sendable>(
        _ claim: DeliveryQueue.Claim, whileCancelled: Result, _ send: @escaping @Sendable () async -> Result
    ) async -> Result {
        let queue = self.queue
        return await withTaskGroup(of: Result?.self) { group in
            group.addTask { await send() }
            group.addTask {
                while (try? await Task.sleep(for: queue.claimLease / 3)) != nil {
                    _ = try? await queue.renew(claim)
                }
                return nil
            }
            defer { group.cancelAll() }
            while let next = await group.next() {
                if let result = next { return result }
            }
            return whileCancelled
        }
    }

    /// Records the outcome, retrying while the database is away (an accepted message must be recorded, or it would
    /// be sent again).
    /// Returns the report recorded with it (nil when the claim had run out).
    @discardableResult
    func record(
        _ claim: DeliveryQueue.Claim, _ outcome: DeliveryQueue.Outcome, statusCode: Int? = nil
    ) async throws -> DeliveryQueue.Report? {
        try await Backoff().retrying("Recording a delivery", logger: logger) {
            try await queue.record(outcome, of: claim, statusCode: statusCode)
        }
    }

    /// Records a failure or a retry and publishes its report.
    func finish(
        _ claim: DeliveryQueue.Claim, _ outcome: DeliveryQueue.Outcome, notification: NotificationRequested?,
        trace: TraceContext? = nil
    ) async throws {
        let report = try await record(claim, outcome)
        if case .failed(let error) = outcome, let notification {
            logger.error("An approver could not be notified", metadata: metadata(notification, trace, ["error": "\(error)"]))
        }
        await reporter.publishRecorded(report, trace: trace)
    }

    func deadLetter(_ claim: DeliveryQueue.Claim, notification: NotificationRequested, reason: String) async throws {
        let message = KafkaMessage(
            topic: Topic.notifications.rawValue, partition: claim.partition, offset: claim.offset,
            key: Array(notification.requestId.utf8), value: Array(claim.payload.utf8),
            headers: claim.trace.map { [KafkaHeader(name: TraceContext.headerName, string: $0)] } ?? [])
        try await DeadLetterPublisher(producer: producer, service: "notifier", logger: logger).publish(message, reason: reason)
    }

    func metadata(_ notification: NotificationRequested, _ trace: TraceContext?, _ extra: Logger.Metadata = [:]) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "requestId": "\(notification.requestId)", "eventId": "\(notification.eventId)",
            "executionId": "\(notification.executionId)",
        ]
        if let trace { metadata["traceId"] = "\(trace.traceId)" }
        return metadata.merging(extra) { _, new in new }
    }

    /// greenlight_emails_total / greenlight_email_send_seconds, greenlight_webhooks_total / …_webhook_send_seconds
    static func metric(_ channel: NotificationChannel) -> String {
        channel == .email ? "email" : "webhook"
    }
}

/// Why a send failed, and whether trying again can help.
struct DeliveryFailure: Error, Sendable, CustomStringConvertible {
    var description: String
    var isPermanent: Bool
}
