/// The Kafka topics Greenlight uses. `decisions` and `outcomes` are public contracts for other systems.
public enum Topic: String, CaseIterable, Sendable {
    /// `ApprovalRequested`, written by intake, read by the orchestrator.
    case requests = "approvals.requests"
    /// `DecisionSubmitted`, written by the callback receiver and by other systems, read by the orchestrator.
    case decisions = "approvals.decisions"
    /// `NotificationRequested`, written by the orchestrator (through its outbox), read by the notifier.
    case notifications = "approvals.notifications"
    /// `ApprovalCompleted`, written by the orchestrator (through its outbox), read by anyone.
    case outcomes = "approvals.outcomes"
    /// Events that could not be handled, with the reason.
    case deadLetters = "approvals.dlq"
    /// `ApprovalLifecycle`, written by the orchestrator (through its outbox): each stage of each request, for
    /// downstream systems that follow requests as they go.
    case lifecycle = "approvals.lifecycle"
}
