import Foundation

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
