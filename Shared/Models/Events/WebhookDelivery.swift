import Foundation

/// The notifier's report on one attempt at an outcome webhook: delivered (a 2xx), retrying, or failed for good
/// (410 Gone, a refused address, a bad secret, or no success before it expired). Topic `approvals.internal`, keyed
/// by request id; the orchestrator writes each to the request's history and keeps the latest per webhook.
public struct WebhookDelivery: GreenlightEvent {
    public static let eventType = "WebhookDelivery"
    public static let topic = Topic.internalCommands

    /// Delivered (a 2xx), retrying, or failed for good: the same results a notification's report has.
    public typealias Result = NotificationDelivery.Result

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var requestId: String
    /// The `webhookId` of the `WebhookRequested` this reports on.
    public var webhookId: String
    /// What the webhook carried (`ApprovalCompleted` or `ApprovalLifecycle`).
    public var eventType: String?
    public var attempt: Int
    public var result: Result
    /// The receiver's HTTP status, when it answered.
    public var statusCode: Int?
    public var error: String?
    public var at: Date

    public init(
        eventId: UUID = UUID(), requestId: String, webhookId: String, eventType: String? = nil, attempt: Int,
        result: Result, statusCode: Int?, error: String?, at: Date
    ) {
        self.eventId = eventId
        self.requestId = requestId
        self.webhookId = webhookId
        self.eventType = eventType
        self.attempt = attempt
        self.result = result
        self.statusCode = statusCode
        self.error = error
        self.at = at
    }
}
