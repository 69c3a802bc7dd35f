/// How the orchestrator's public events (`approvals.outcomes`, `approvals.lifecycle`) and webhooks carry an event
/// (`GREENLIGHT_EVENT_FORMAT`).
public enum EventFormat: String, Sendable, CaseIterable {
    /// The event's JSON, as always.
    case json
    /// CloudEvents 1.0: binary mode on Kafka (`ce_*` headers, the same JSON as the value), structured mode in
    /// webhooks (see `CloudEvent`).
    case cloudevents
}
