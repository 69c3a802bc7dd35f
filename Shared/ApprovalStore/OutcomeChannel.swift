/// The Postgres channel on which the end of a request is notified, with its request id as the payload: intake's
/// long-polls (`GET /v1/requests/{id}/outcome?wait=N`) listen on it. The notification is sent in the transaction
/// that records the outcome, so it is delivered when, and only if, that commits.
public enum OutcomeChannel {
    public static let name = "greenlight_outcomes"
}
