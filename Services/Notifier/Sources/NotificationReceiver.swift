import DurableExecution
import Foundation
import GreenlightModels
import Kafka
import Logging
import ServiceSupport

/// Consumes `approvals.notifications` into the delivery queue: each batch of a partition is stored (once per
/// notification, outcome webhook or sign-in email, by event id) before its offsets are committed, and the senders are woken. Nothing
/// here waits for a mail server or a webhook receiver, so an outage of one never holds up a partition. A message that
/// is neither goes to the dead-letter topic.
struct NotificationReceiver: Sendable {
    let consumer: KafkaConsumer
    let producer: KafkaProducer
    let queue: DeliveryQueue
    let configuration: NotifierConfiguration
    let wakeUp: WakeUpSignal
    let logger: Logger
    /// Where each notification's Slack direct message is queued, when Slack is configured.
    var slack: SlackMessageStore? = nil

    func run() async throws {
        let logger = self.logger
        try await consumer.forEachBatchByPartition(maxBatch: 64, { try await receive($0) }) { _, error in
            logger.warning("Offsets not committed; the notifications will be received again", metadata: ["error": "\(error)"])
        }
    }

    func receive(_ messages: [KafkaMessage]) async throws {
        var incoming: [DeliveryQueue.Incoming] = []
        var webhooks: [DeliveryQueue.IncomingWebhook] = []
        var signIns: [DeliveryQueue.IncomingSignIn] = []
        for message in messages {
            if Self.eventType(of: message) == SignInLinkRequested.eventType {
                do {
                    let signIn = try GreenlightJSON.decoder().decode(SignInLinkRequested.self, from: Data(message.value))
                    signIns.append(await Self.received(signIn, message))
                } catch {
                    try await DeadLetterPublisher(producer: producer, service: "notifier", logger: logger).publish(
                        message, reason: "not a SignInLinkRequested: \(DecodingErrorDescription.describe(error))")
                }
                continue
            }
            if Self.isWebhook(message) {
                let webhook: WebhookRequested
                do {
                    webhook = try GreenlightJSON.decoder().decode(WebhookRequested.self, from: Data(message.value))
                } catch {
                    try await DeadLetterPublisher(producer: producer, service: "notifier", logger: logger).publish(
                        message, reason: "not a WebhookRequested: \(DecodingErrorDescription.describe(error))")
                    continue
                }
                webhooks.append(await Self.received(webhook, message))
                continue
            }
            let notification: NotificationRequested
            do {
                (notification, _) = try NotificationDecoding.decode(message.value, keys: configuration.linkKeys)
            } catch let error as NotificationDecoding.UnknownLinkKey {
                try await DeadLetterPublisher(producer: producer, service: "notifier", logger: logger).publish(
                    message, reason: "the notification to \(error.notification.approver) cannot be sent: \(error)")
                continue
            } catch {
                try await DeadLetterPublisher(producer: producer, service: "notifier", logger: logger).publish(
                    message, reason: "not a NotificationRequested: \(DecodingErrorDescription.describe(error))")
                continue
            }
            incoming.append(await Self.received(notification, message))
        }
        // The database away pauses this partition (nothing is lost: the offsets wait too).
        try await Backoff().retrying("Storing notifications", logger: logger) {
            try await queue.insert(incoming)
            try await queue.insert(webhooks)
            try await queue.insert(signIns)
            try await slack?.queueDirectMessages(incoming)
        }
        wakeUp.signal()
    }

    /// The event as the queue keeps it. The span that received it is the parent of the one that later delivers it.
    static func received<Event>(_ event: Event, _ message: KafkaMessage) async -> DeliveryQueue.Received<Event> {
        let trace = await message.withConsumerSpan("process \(message.topic)") { $0 }
        return DeliveryQueue.Received(
            event: event, payload: String(decoding: message.value, as: UTF8.self), trace: trace.traceparent,
            partition: message.partition, offset: message.offset, replayed: message.header("greenlight-replayed-from") != nil)
    }

    private struct TypeProbe: Decodable { var type: String? }

    /// The message's `type`, when it is JSON with one.
    static func eventType(of message: KafkaMessage) -> String? {
        (try? JSONDecoder().decode(TypeProbe.self, from: Data(message.value)))?.type
    }

    /// Whether the message is a `WebhookRequested` (everything else here should be a `NotificationRequested`, or a
    /// `SignInLinkRequested`).
    static func isWebhook(_ message: KafkaMessage) -> Bool {
        eventType(of: message) == WebhookRequested.eventType
    }
}


/// Reads `NotificationRequested` (version 2) with the approver's link token.
enum NotificationDecoding {
    /// A version of the event this notifier does not read (version 1 carried the link token itself; no release
    /// since the link nonce writes it).
    struct UnsupportedVersion: Error, Equatable, CustomStringConvertible {
        var version: Int
        var description: String { "NotificationRequested version \(version) is not read by this notifier (it reads version 2)" }
    }

    /// A notification whose link was made with a secret this notifier does not have.
    struct UnknownLinkKey: Error, CustomStringConvertible {
        var id: String
        var notification: NotificationRequested
        var description: String {
            "its link was made with the link secret \(id), which this notifier does not have: add that secret to "
                + "GREENLIGHT_LINK_SECRETS_PREVIOUS (or make it GREENLIGHT_LINK_SECRET), then replay the dead letter"
        }
    }

    /// The notification and the approver's link token, derived from its nonce with the secret the event names.
    static func decode(_ bytes: [UInt8], keys: LinkKeyring) throws -> (NotificationRequested, token: String) {
        let decoder = GreenlightJSON.decoder()
        struct Version: Decodable { var version: Int? }
        if let version = try? decoder.decode(Version.self, from: Data(bytes)).version, version != 2 {
            throw UnsupportedVersion(version: version)
        }
        let notification = try decoder.decode(NotificationRequested.self, from: Data(bytes))
        guard let secret = keys.secret(id: notification.linkKey) else { throw UnknownLinkKey(id: notification.linkKey ?? "", notification: notification) }
        return (notification, LinkToken.derive(secret: secret, nonce: notification.tokenNonce))
    }
}
