import DurableExecution
import Foundation
import GreenlightModels
import Kafka
import Logging
import ServiceSupport

/// Consumes `approvals.notifications` into the delivery queue: each batch of a partition is stored (once per
/// notification, outcome webhook, sign-in email or digest, by event id) before its offsets are committed, and the
/// senders are woken. Nothing here waits for a mail server or a webhook receiver, so an outage of one never holds up a
/// partition. A message that is none of these goes to the dead-letter topic.
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
        var digests: [DeliveryQueue.IncomingDigest] = []
        /// The message as an `Event`, or nil once it went to the dead-letter topic (it is not one).
        func decoded<Event: Queueable>(_ type: Event.Type, _ message: KafkaMessage) async throws -> DeliveryQueue.Received<Event>? {
            do {
                return await Self.received(try GreenlightJSON.decode(Event.self, from: Data(message.value)), message)
            } catch {
                try await DeadLetterPublisher(producer: producer, service: "notifier", logger: logger).publish(
                    message, reason: "not a \(Event.eventType): \(DecodingErrorDescription.describe(error))")
                return nil
            }
        }
        for message in messages {
            switch Self.eventType(of: message) {
            case SignInLinkRequested.eventType:
                if let signIn = try await decoded(SignInLinkRequested.self, message) { signIns.append(signIn) }
                continue
            case DigestRequested.eventType:
                if let digest = try await decoded(DigestRequested.self, message) { digests.append(digest) }
                continue
            case WebhookRequested.eventType:
                if let webhook = try await decoded(WebhookRequested.self, message) { webhooks.append(webhook) }
                continue
            default:
                break
            }
            let notification: NotificationRequested
            do {
                (notification, _) = try NotificationDecoding.read(message.value, keys: configuration.linkKeys)
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
            try await queue.insert(digests)
            try await slack?.queueDirectMessages(incoming)
        }
        // One sender for each message queued (with Slack, a request's direct message is one more), not every idle
        // sender for each batch.
        let directMessages = slack == nil ? 0 : incoming.count(where: SlackMessageStore.getsDirectMessage)
        let queued = incoming.count + directMessages + webhooks.count + signIns.count + digests.count
        wakeUp.signal(waking: queued)
    }

    /// The event as the queue keeps it. The span that received it is the parent of the one that later delivers it.
    static func received<Event>(_ event: Event, _ message: KafkaMessage) async -> DeliveryQueue.Received<Event> {
        let trace = await message.withConsumerSpan("process \(message.topic)") { $0 }
        return DeliveryQueue.Received(
            event: event, payload: String(decoding: message.value, as: UTF8.self), trace: trace.traceparent,
            partition: message.partition, offset: message.offset, replayed: message.header("greenlight-replayed-from") != nil)
    }

    private struct TypeProbe: Decodable { var type: String? }

    /// The message's `type`, when it is JSON with one (read from its bytes; the decoder reads what `EventProbe` does not).
    static func eventType(of message: KafkaMessage) -> String? {
        EventProbe.typeAndVersion(message.value)?.type ?? (try? JSONDecoder().decode(TypeProbe.self, from: Data(message.value)))?.type
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
        let (notification, secret) = try read(bytes, keys: keys)
        return (notification, LinkToken.derive(secret: secret, nonce: notification.tokenNonce))
    }

    /// The notification and the secret its link is made with (this notifier has it); the token itself is derived only
    /// when the notification is sent (`decode`).
    static func read(_ bytes: [UInt8], keys: LinkKeyring) throws -> (NotificationRequested, secret: LinkSecret) {
        let data = Data(bytes)
        let notification: NotificationRequested
        do {
            notification = try GreenlightJSON.decode(NotificationRequested.self, from: data)
        } catch {
            // Another version says so, rather than what it lacks (read only then: once per message is enough on
            // the sending path).
            struct Version: Decodable { var version: Int? }
            if let version = try? GreenlightJSON.decode(Version.self, from: data).version, version != 2 {
                throw UnsupportedVersion(version: version)
            }
            throw error
        }
        guard notification.version == 2 else { throw UnsupportedVersion(version: notification.version) }
        guard let secret = keys.secret(id: notification.linkKey) else {
            throw UnknownLinkKey(id: notification.linkKey ?? "", notification: notification)
        }
        return (notification, secret)
    }
}
