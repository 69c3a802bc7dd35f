import Crypto
import Foundation

/// Ask the notifier to POST an outcome (or a lifecycle stage) to the request's callback URL, signed the Standard
/// Webhooks way and retried until the receiver answers 2xx or the webhook is `expiresAt` old. Topic
/// `approvals.notifications`, written by the orchestrator through its outbox; keyed by request id.
public struct WebhookRequested: GreenlightEvent {
    public static let eventType = "WebhookRequested"
    public static let topic = Topic.notifications

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var requestId: String
    public var executionId: UUID
    /// The Standard Webhooks `webhook-id`: the same on every attempt and on every replay of the workflow (derived
    /// from the request and the event it carries), so receivers deduplicate on it.
    public var webhookId: String
    public var url: String
    /// The request's own `callbackSecret` (`whsec_…`); nil: the notifier's `GREENLIGHT_CALLBACK_SECRET`.
    public var secret: String?
    /// What the body is: `ApprovalCompleted` or `ApprovalLifecycle`.
    public var eventType: String
    public var contentType: String
    /// The exact bytes to POST (and sign), as UTF-8 text.
    public var body: String
    public var createdAt: Date
    /// No attempt is made after this (`GREENLIGHT_CALLBACK_MAX_AGE_SECONDS` after `createdAt`).
    public var expiresAt: Date

    public init(
        eventId: UUID = UUID(), requestId: String, executionId: UUID, webhookId: String, url: String, secret: String?,
        eventType: String, contentType: String = "application/json", body: String, createdAt: Date, expiresAt: Date
    ) {
        self.eventId = eventId
        self.requestId = requestId
        self.executionId = executionId
        self.webhookId = webhookId
        self.url = url
        self.secret = secret
        self.eventType = eventType
        self.contentType = contentType
        self.body = body
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }

    /// `msg_` and 32 hex digits of SHA-256 over the request's id and the carried event's: the same for the same event.
    public static func webhookId(requestId: String, eventId: UUID) -> String {
        let digest = SHA256.hash(data: Data("greenlight-webhook-v1/\(requestId)/\(eventId.uuidString.lowercased())".utf8))
        return "msg_" + Hex.encode(digest).prefix(32)
    }
}
