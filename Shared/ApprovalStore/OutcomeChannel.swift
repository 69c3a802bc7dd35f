import GreenlightModels

/// The Postgres channel on which the end of a request is notified, with its request id as the payload: intake's
/// long-polls (`GET /v1/requests/{id}/outcome?wait=N`) listen on it. The notification is sent in the transaction
/// that records the outcome, so it is delivered when, and only if, that commits.
public enum OutcomeChannel {
    public static let name = "greenlight_outcomes"
}

/// The Postgres channel on which a decision's verdict (a row in `decision_attempts`) is notified, with its request id as
/// the payload: the page after a link's click listens on it, and on `OutcomeChannel` for a verdict that the request's
/// outcome follows. Sent, in the transaction that records the verdict, only for decisions whose page listens.
public enum VerdictChannel {
    public static let name = "greenlight_verdicts"

    /// Whether a page listens for verdicts on decisions through `channel`. (The inbox's results page, which waits for
    /// several verdicts at once, still looks for them from time to time.)
    public static func isAwaited(_ channel: DecisionChannel) -> Bool { channel == .link }
}
