import Foundation

/// A new approval request, accepted by intake. Topic `approvals.requests`.
public struct ApprovalRequested: GreenlightEvent {
    public static let eventType = "ApprovalRequested"
    public static let topic = Topic.requests

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var requestId: String
    public var amount: Double?
    public var currency: String?
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
    public var title: String?
    public var details: JSONValue?
    public var links: [RequestLink]?
    /// Echoed in the outcome and every lifecycle event.
    public var metadata: JSONValue?
    public var responseSchema: ResponseSchema?
    public var requireReason: ReasonRequirement?
    public var action: AgentAction?
    /// Where the outcome is POSTed when the request ends (Standard Webhooks), and with which secret and events.
    public var callbackUrl: String?
    public var callbackSecret: String?
    public var callbackLifecycle: Bool?

    public init(
        eventId: UUID = UUID(), requestId: String, amount: Double?, currency: String?, description: String,
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

    /// What the request carries beyond its core fields, with its action's digest.
    public var content: RequestContent {
        get {
            RequestContent(
                title: title, details: details, links: links, metadata: metadata, responseSchema: responseSchema,
                requireReason: requireReason, action: action)
        }
        set {
            title = newValue.title
            details = newValue.details
            links = newValue.links
            metadata = newValue.metadata
            responseSchema = newValue.responseSchema
            requireReason = newValue.requireReason
            action = newValue.action
        }
    }
}
