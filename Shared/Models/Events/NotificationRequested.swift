import Foundation

/// Ask the notifier to tell one approver about a request. Topic `approvals.notifications`.
///
/// It carries no link token: the notifier derives the approver's token from `tokenNonce` with the link secret
/// (see `LinkToken`). Version 2 (version 1, which carried the token itself, is no longer read).
public struct NotificationRequested: GreenlightEvent {
    public static let eventType = "NotificationRequested"
    public static let topic = Topic.notifications

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 2
    public var requestId: String
    public var executionId: UUID
    public var approver: String
    /// What the approver's link token is derived from.
    public var tokenNonce: UUID
    /// Which link secret the token is derived with (`LinkSecret.id`); nil: the notifier's current one. Lets links
    /// made before a rotation of `GREENLIGHT_LINK_SECRET` be sent again (a reminder, a resend) unchanged.
    public var linkKey: String?
    /// Why this message: the first request (nil), a reminder, or an escalation.
    public var kind: NotificationKind?
    /// Email (nil) or webhook.
    public var channel: NotificationChannel?
    public var amount: Double?
    public var currency: String?
    public var description: String
    /// What the approver sees beyond the core fields (never the requester's `metadata`).
    public var title: String?
    public var details: JSONValue?
    public var links: [RequestLink]?
    public var action: AgentAction?
    /// Which decisions must give their reason, so the message can say so.
    public var requireReason: ReasonRequirement?
    public var requester: String?
    public var submittedAt: Date
    public var expiresAt: Date
    /// What the deadline does if nobody decides: reject (nil) or approve; the message says which.
    public var onTimeout: TimeoutPolicy?
    /// For a `receipt`: what became of the approver's decision, in a sentence.
    public var receipt: String?
    /// The approver this one is asked in place of, as their delegate (out of office); nil: asked as themselves.
    public var onBehalfOf: String?
    /// For `delegated`: the delegate the request went to.
    public var delegate: String?

    public init(
        eventId: UUID = UUID(), requestId: String, executionId: UUID, approver: String, tokenNonce: UUID,
        linkKey: String? = nil, kind: NotificationKind? = nil, channel: NotificationChannel? = nil,
        amount: Double?, currency: String?, description: String, requester: String?, submittedAt: Date, expiresAt: Date,
        onTimeout: TimeoutPolicy? = nil, receipt: String? = nil
    ) {
        self.receipt = receipt
        self.onTimeout = onTimeout
        self.linkKey = linkKey
        self.eventId = eventId
        self.requestId = requestId
        self.executionId = executionId
        self.approver = approver
        self.tokenNonce = tokenNonce
        self.kind = kind
        self.channel = channel
        self.amount = amount
        self.currency = currency
        self.description = description
        self.requester = requester
        self.submittedAt = submittedAt
        self.expiresAt = expiresAt
    }
}

extension NotificationRequested {
    /// The message with what the approver sees of the request beyond its core fields (never its `metadata`).
    public func showing(_ request: ApprovalRequested) -> NotificationRequested {
        var message = self
        message.title = request.title
        message.details = request.details
        message.links = request.links
        message.action = request.action
        message.requireReason = request.requireReason
        return message
    }
}
