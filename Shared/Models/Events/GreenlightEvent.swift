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
    /// From a signed-in approver's inbox (the callback receiver's `/inbox`): the approver is who the session is.
    case inbox
    /// From a button or modal in the approver's Slack direct message.
    case slack

    /// Whether a decision through this channel is an approver's own (a person signed in or holding their link), and
    /// so counts only if that person is one of the request's approvers — never an operator's word that settles it.
    public var isApproversOwn: Bool { self == .link || self == .inbox || self == .slack }
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
    /// Tells an approver that a request went to their delegate while they are away (`delegate` names them); no
    /// links.
    case delegated

    /// Whether the message asks its recipient to decide (and carries their link): not a receipt or a notice.
    public var asksForADecision: Bool {
        switch self {
        case .request, .reminder, .escalation: true
        case .receipt, .delegated: false
        }
    }
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
