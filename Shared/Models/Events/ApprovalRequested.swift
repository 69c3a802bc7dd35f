import Foundation

/// A new approval request, accepted by intake. Topic `approvals.requests`.
public struct ApprovalRequested: GreenlightEvent {
    public static let eventType = "ApprovalRequested"
    public static let topic = Topic.requests

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var requestId: String
    public var amount: Double
    public var currency: String
    public var description: String
    public var requester: String?
    public var approvers: [String]
    public var timeoutSeconds: Int
    /// Seconds within which a heartbeat must reach the callback; nil for none.
    public var heartbeatTimeoutSeconds: Int?
    public var onTimeout: TimeoutPolicy?
    /// How the approvers' decisions combine; nil means `any`.
    public var policy: ApprovalPolicy?
    /// Approvers who have not decided this long after the start get a reminder.
    public var remindAfterSeconds: Int?
    /// If the request is still undecided this long after the start, `escalateTo` are notified and become approvers.
    public var escalateAfterSeconds: Int?
    public var escalateTo: [String]?
    /// How the approvers are notified; nil means email.
    public var notify: NotificationChannel?
    public var submittedAt: Date

    public init(
        eventId: UUID = UUID(), requestId: String, amount: Double, currency: String, description: String,
        requester: String?, approvers: [String], timeoutSeconds: Int, heartbeatTimeoutSeconds: Int? = nil,
        onTimeout: TimeoutPolicy? = nil, policy: ApprovalPolicy? = nil, remindAfterSeconds: Int? = nil,
        escalateAfterSeconds: Int? = nil, escalateTo: [String]? = nil, notify: NotificationChannel? = nil,
        submittedAt: Date
    ) {
        self.notify = notify
        self.policy = policy
        self.remindAfterSeconds = remindAfterSeconds
        self.escalateAfterSeconds = escalateAfterSeconds
        self.escalateTo = escalateTo
        self.eventId = eventId
        self.requestId = requestId
        self.amount = amount
        self.currency = currency
        self.description = description
        self.requester = requester
        self.approvers = approvers
        self.timeoutSeconds = timeoutSeconds
        self.heartbeatTimeoutSeconds = heartbeatTimeoutSeconds
        self.onTimeout = onTimeout
        self.submittedAt = submittedAt
    }
}
