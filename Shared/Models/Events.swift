import Foundation

/// Every event on a Greenlight topic: an id consumers dedupe on, a type name, a schema version and the
/// request it belongs to (which is also its Kafka key, so one workflow's events stay in order).
public protocol GreenlightEvent: Codable, Sendable, Equatable {
    /// The `type` field's value for this event.
    static var eventType: String { get }
    /// The topic this event travels on.
    static var topic: Topic { get }
    var eventId: UUID { get }
    var requestId: String { get }
}

/// How a decision reached Greenlight.
public enum DecisionChannel: String, Codable, Sendable, CaseIterable {
    case link
    case api
    case kafka
}

/// How approvers are notified (per request, or intake's `GREENLIGHT_DEFAULT_CHANNEL`).
public enum NotificationChannel: String, Codable, Sendable, CaseIterable {
    /// An email with the links (the default).
    case email
    /// A JSON POST to the notifiers' `GREENLIGHT_WEBHOOK_URL` (Slack-compatible: `text` and `blocks`).
    case webhook
}

/// Why an approver is being notified.
public enum NotificationKind: String, Codable, Sendable, CaseIterable {
    /// The first message about a request.
    case request
    /// The approver has not decided after `remindAfterSeconds`.
    case reminder
    /// Nobody decided within `escalateAfterSeconds`; the approver was added then.
    case escalation
    /// What became of the approver's own decision, when the page after their click could not say in time
    /// (`receipt` holds it); no links.
    case receipt
}

/// What happens when nobody decides before the deadline.
public enum TimeoutPolicy: String, Codable, Sendable, CaseIterable {
    /// The request ends `timed_out`, which counts as a rejection (the default).
    case reject
    /// The request is approved.
    case approve
}

/// What an approver decided.
public enum Decision: String, Codable, Sendable, CaseIterable {
    case approve
    case reject
}

/// The state of an approval request as clients see it.
public enum ApprovalStatus: String, Codable, Sendable, CaseIterable {
    case pending
    case approved
    case rejected
    case timedOut = "timed_out"
    case failed
    case cancelled

    public var isTerminal: Bool { self != .pending }
}

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
    public var amount: Double
    public var currency: String
    public var description: String
    public var requester: String?
    public var submittedAt: Date
    public var expiresAt: Date
    /// What the deadline does if nobody decides: reject (nil) or approve; the message says which.
    public var onTimeout: TimeoutPolicy?
    /// For a `receipt`: what became of the approver's decision, in a sentence.
    public var receipt: String?

    public init(
        eventId: UUID = UUID(), requestId: String, executionId: UUID, approver: String, tokenNonce: UUID,
        linkKey: String? = nil, kind: NotificationKind? = nil, channel: NotificationChannel? = nil,
        amount: Double, currency: String, description: String, requester: String?, submittedAt: Date, expiresAt: Date,
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

/// A decision on a request, from a link click, the API or another system. Topic `approvals.decisions`.
public struct DecisionSubmitted: GreenlightEvent {
    public static let eventType = "DecisionSubmitted"
    public static let topic = Topic.decisions

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var requestId: String
    public var decision: Decision
    public var decidedBy: String
    public var channel: DecisionChannel
    public var comment: String?
    public var decidedAt: Date
    /// Hex SHA-256 of the link token used, for decisions made through a link.
    public var tokenHash: String?
    /// For link decisions: the address the form was posted from, and the browser's User-Agent.
    public var clientAddress: String?
    public var userAgent: String?
    /// For decisions made through a program API: the name of the API key the caller presented (who answers for
    /// it, next to the `decidedBy` the caller named).
    public var apiKey: String?

    public init(
        eventId: UUID = UUID(), requestId: String, decision: Decision, decidedBy: String, channel: DecisionChannel,
        comment: String?, decidedAt: Date, tokenHash: String?, clientAddress: String? = nil, userAgent: String? = nil,
        apiKey: String? = nil
    ) {
        self.apiKey = apiKey
        self.clientAddress = clientAddress
        self.userAgent = userAgent
        self.eventId = eventId
        self.requestId = requestId
        self.decision = decision
        self.decidedBy = decidedBy
        self.channel = channel
        self.comment = comment
        self.decidedAt = decidedAt
        self.tokenHash = tokenHash
    }
}

/// Asks for an email telling an approver what became of their decision (`decisionEventId`), because the page
/// after their click could not say in time. Topic `approvals.decisions`, keyed by request id, though the callback
/// receiver alone sends it: on the decision's own partition it is taken after the decision it asks about, which it
/// could overtake on another topic. (The orchestrator mails a receipt only to the approver who made that decision by
/// link, so a forged one tells nobody anything new.)
public struct DecisionReceiptRequested: GreenlightEvent {
    public static let eventType = "DecisionReceiptRequested"
    public static let topic = Topic.decisions

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var requestId: String
    public var decisionEventId: UUID
    public var approver: String
    public var decision: Decision
    public var requestedAt: Date

    public init(
        eventId: UUID = UUID(), requestId: String, decisionEventId: UUID, approver: String, decision: Decision,
        requestedAt: Date
    ) {
        self.eventId = eventId
        self.requestId = requestId
        self.decisionEventId = decisionEventId
        self.approver = approver
        self.decision = decision
        self.requestedAt = requestedAt
    }
}

/// The end of a request's workflow. Topic `approvals.outcomes`; published once per workflow.
public struct ApprovalCompleted: GreenlightEvent {
    public static let eventType = "ApprovalCompleted"
    public static let topic = Topic.outcomes

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var requestId: String
    public var executionId: UUID
    public var status: ApprovalStatus
    /// True only when the request was approved; a timeout rejects.
    public var approved: Bool
    public var decidedBy: String?
    public var decidedAt: Date?
    public var channel: DecisionChannel?
    public var comment: String?
    /// For `failed` and `cancelled`: why.
    public var errorType: String?
    public var errorMessage: String?
    /// Every approver's decision that counted, in order (the audit trail); empty when nobody decided.
    public var votes: [ApprovalVote]?
    /// The name of the API key of the decision or cancellation that ended the request, when it came through a
    /// program API.
    public var apiKey: String?
    public var completedAt: Date

    public init(
        eventId: UUID = UUID(), requestId: String, executionId: UUID, status: ApprovalStatus, decidedBy: String?,
        decidedAt: Date?, channel: DecisionChannel?, comment: String?, errorType: String? = nil,
        errorMessage: String? = nil, votes: [ApprovalVote]? = nil, apiKey: String? = nil, completedAt: Date
    ) {
        self.apiKey = apiKey
        self.votes = votes
        self.eventId = eventId
        self.requestId = requestId
        self.executionId = executionId
        self.status = status
        self.approved = status == .approved
        self.decidedBy = decidedBy
        self.decidedAt = decidedAt
        self.channel = channel
        self.comment = comment
        self.errorType = errorType
        self.errorMessage = errorMessage
        self.completedAt = completedAt
    }
}

/// A program's command to a callback, through the callback API or straight onto `approvals.decisions`
/// (mirrors SendDurableExecutionCallbackSuccess / Failure / Heartbeat).
public struct CallbackCommand: GreenlightEvent {
    public static let eventType = "CallbackCommand"
    public static let topic = Topic.decisions

    public enum Command: String, Codable, Sendable {
        case success
        case failure
        case heartbeat
    }

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var requestId: String
    public var callbackId: UUID
    public var command: Command
    /// The success payload. For approvals: `{"decision": "approved" | "rejected", "approver": …, "comment": …}`.
    public var result: JSONValue?
    public var errorType: String?
    public var errorMessage: String?
    public var submittedAt: Date

    public init(
        eventId: UUID = UUID(), requestId: String, callbackId: UUID, command: Command, result: JSONValue? = nil,
        errorType: String? = nil, errorMessage: String? = nil, submittedAt: Date
    ) {
        self.eventId = eventId
        self.requestId = requestId
        self.callbackId = callbackId
        self.command = command
        self.result = result
        self.errorType = errorType
        self.errorMessage = errorMessage
        self.submittedAt = submittedAt
    }
}

/// Stop a pending request (like StopDurableExecution). Topic `approvals.internal`.
public struct CancelRequested: GreenlightEvent {
    public static let eventType = "CancelRequested"
    public static let topic = Topic.internalCommands

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var requestId: String
    public var reason: String?
    public var requestedAt: Date
    /// The name of the API key the cancellation came through.
    public var apiKey: String?

    public init(eventId: UUID = UUID(), requestId: String, reason: String?, requestedAt: Date, apiKey: String? = nil) {
        self.apiKey = apiKey
        self.eventId = eventId
        self.requestId = requestId
        self.reason = reason
        self.requestedAt = requestedAt
    }
}

/// The notifier's report on one notification: delivered, being retried, or failed for good. Topic
/// `approvals.internal`, keyed by request id; the orchestrator keeps the latest per notification and writes each to
/// the execution's history.
public struct NotificationDelivery: GreenlightEvent {
    public static let eventType = "NotificationDelivery"
    public static let topic = Topic.internalCommands

    public enum Result: String, Codable, Sendable, CaseIterable {
        case delivered
        /// A temporary failure (a 4xx reply, connection trouble); another attempt follows.
        case retrying
        /// A permanent failure (a 5xx reply, a refused login) or no success after every attempt.
        case failed
    }

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var requestId: String
    /// The `eventId` of the `NotificationRequested` this reports on.
    public var notificationId: UUID
    public var approver: String
    public var kind: NotificationKind
    public var result: Result
    public var attempt: Int
    public var error: String?
    public var at: Date

    public init(
        eventId: UUID = UUID(), requestId: String, notificationId: UUID, approver: String, kind: NotificationKind,
        result: Result, attempt: Int, error: String?, at: Date
    ) {
        self.eventId = eventId
        self.requestId = requestId
        self.notificationId = notificationId
        self.approver = approver
        self.kind = kind
        self.result = result
        self.attempt = attempt
        self.error = error
        self.at = at
    }
}

/// Send a pending request's approvers their link again (`POST /v1/requests/{id}/resend`). Topic
/// `approvals.internal`.
public struct ResendRequested: GreenlightEvent {
    public static let eventType = "ResendRequested"
    public static let topic = Topic.internalCommands

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var requestId: String
    /// One approver; nil for every approver who has not decided.
    public var approver: String?
    public var requestedAt: Date
    /// The name of the API key the resend came through.
    public var apiKey: String?

    public init(eventId: UUID = UUID(), requestId: String, approver: String?, requestedAt: Date, apiKey: String? = nil) {
        self.apiKey = apiKey
        self.eventId = eventId
        self.requestId = requestId
        self.approver = approver
        self.requestedAt = requestedAt
    }
}

/// A stage of a request's life. Topic `approvals.lifecycle`; each stage of each request is published once.
public struct ApprovalLifecycle: GreenlightEvent {
    public static let eventType = "ApprovalLifecycle"
    public static let topic = Topic.lifecycle

    public enum Stage: String, Codable, Sendable, CaseIterable {
        /// The workflow started and recorded the request.
        case requested
        /// The approvers were sent their links (`approvers`).
        case notified
        /// Approvers who had not decided were reminded (`approvers`).
        case reminded
        /// Nobody had decided in time; `approvers` were added and notified.
        case escalated
        /// A decision settled the request (`decision`, `decidedBy`, `channel`).
        case decided
        /// The deadline passed with no decision.
        case expired
        /// The workflow ended (`status`); the outcome is on `approvals.outcomes`.
        case completed
    }

    public var eventId: UUID
    public var type: String = Self.eventType
    public var version: Int = 1
    public var requestId: String
    public var executionId: UUID
    public var stage: Stage
    public var at: Date
    public var approvers: [String]?
    public var decision: Decision?
    public var decidedBy: String?
    public var channel: DecisionChannel?
    public var status: ApprovalStatus?

    public init(
        eventId: UUID = UUID(), requestId: String, executionId: UUID, stage: Stage, at: Date, approvers: [String]? = nil,
        decision: Decision? = nil, decidedBy: String? = nil, channel: DecisionChannel? = nil, status: ApprovalStatus? = nil
    ) {
        self.eventId = eventId
        self.requestId = requestId
        self.executionId = executionId
        self.stage = stage
        self.at = at
        self.approvers = approvers
        self.decision = decision
        self.decidedBy = decidedBy
        self.channel = channel
        self.status = status
    }
}

/// The success payload of an approval's callback: how a decision resumes the workflow.
public struct ApprovalDecisionPayload: Codable, Sendable, Equatable {
    /// Written `approved` or `rejected` (`approve` and `reject` are read too); anything else is not a decision, and
    /// a payload carrying it fails to decode rather than count as either.
    public var decision: Decision
    public var approver: String?
    public var comment: String?
    public var channel: DecisionChannel?
    public var decidedAt: Date?
    /// The votes that led to this decision (every policy but `any` collects several).
    public var votes: [ApprovalVote]?
    /// The API key of the decision, when it came through a program API.
    public var apiKey: String?

    public init(
        decision: Decision, approver: String?, comment: String?, channel: DecisionChannel?, decidedAt: Date?,
        votes: [ApprovalVote]? = nil, apiKey: String? = nil
    ) {
        self.apiKey = apiKey
        self.votes = votes
        self.decision = decision
        self.approver = approver
        self.comment = comment
        self.channel = channel
        self.decidedAt = decidedAt
    }

    private enum CodingKeys: String, CodingKey {
        case decision, approver, comment, channel, decidedAt, votes, apiKey
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let word = try container.decode(String.self, forKey: .decision)
        switch word {
        case "approved", "approve": decision = .approve
        case "rejected", "reject": decision = .reject
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .decision, in: container, debugDescription: "\"\(word)\" is not a decision: use \"approved\" or \"rejected\"")
        }
        approver = try container.decodeIfPresent(String.self, forKey: .approver)
        comment = try container.decodeIfPresent(String.self, forKey: .comment)
        channel = try container.decodeIfPresent(DecisionChannel.self, forKey: .channel)
        decidedAt = try container.decodeIfPresent(Date.self, forKey: .decidedAt)
        votes = try container.decodeIfPresent([ApprovalVote].self, forKey: .votes)
        apiKey = try container.decodeIfPresent(String.self, forKey: .apiKey)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(decision == .approve ? "approved" : "rejected", forKey: .decision)
        try container.encodeIfPresent(approver, forKey: .approver)
        try container.encodeIfPresent(comment, forKey: .comment)
        try container.encodeIfPresent(channel, forKey: .channel)
        try container.encodeIfPresent(decidedAt, forKey: .decidedAt)
        try container.encodeIfPresent(votes, forKey: .votes)
        try container.encodeIfPresent(apiKey, forKey: .apiKey)
    }
}
