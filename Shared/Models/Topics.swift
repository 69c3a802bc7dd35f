/// The Kafka topics Greenlight uses. `requests`, `decisions`, `outcomes` and `lifecycle` are public contracts for
/// other systems; `internalCommands` is Greenlight's own, between its services.
public enum Topic: String, CaseIterable, Sendable {
    /// `ApprovalRequested`, written by intake, read by the orchestrator.
    case requests = "approvals.requests"
    /// `DecisionSubmitted` and `CallbackCommand`, written by the callback receiver and by other systems, read by the
    /// orchestrator (and `DecisionReceiptRequested`, which the callback receiver keeps in order with its decision).
    case decisions = "approvals.decisions"
    /// Greenlight's own commands and reports to the orchestrator, not a contract for other systems:
    /// `CancelRequested`, `ResendRequested`, `ReassignRequested`, `DelegationSet` and `DelegationCleared` (intake),
    /// `NotificationDelivery` and `WebhookDelivery` (the notifier). The
    /// orchestrator reads them only from here, and reads nothing else here.
    case internalCommands = "approvals.internal"
    /// `NotificationRequested` and `WebhookRequested`, written by the orchestrator (through its outbox), read by the
    /// notifier.
    case notifications = "approvals.notifications"
    /// `ApprovalCompleted`, written by the orchestrator (through its outbox), read by anyone.
    case outcomes = "approvals.outcomes"
    /// Events that could not be handled, with the reason.
    case deadLetters = "approvals.dlq"
    /// `ApprovalLifecycle`, written by the orchestrator (through its outbox): each stage of each request, for
    /// downstream systems that follow requests as they go.
    case lifecycle = "approvals.lifecycle"
}
