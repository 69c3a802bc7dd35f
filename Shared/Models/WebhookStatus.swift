import Foundation

/// What became of one outcome webhook of a request, as the status shows it: the latest report on it.
public struct WebhookStatus: Codable, Sendable, Equatable {
    /// The Standard Webhooks `webhook-id` the receiver saw.
    public var webhookId: String
    /// What it carried: `ApprovalCompleted` or `ApprovalLifecycle`.
    public var eventType: String?
    public var result: WebhookDelivery.Result
    public var attempts: Int
    /// The receiver's last HTTP status, when it answered.
    public var statusCode: Int?
    public var error: String?
    public var at: Date

    public init(
        webhookId: String, eventType: String?, result: WebhookDelivery.Result, attempts: Int, statusCode: Int?, error: String?,
        at: Date
    ) {
        self.webhookId = webhookId
        self.eventType = eventType
        self.result = result
        self.attempts = attempts
        self.statusCode = statusCode
        self.error = error
        self.at = at
    }
}
