/// What a Slack direct message's buttons carry, between the notifier (which posts them) and the callback receiver
/// (which takes their interactions): no table shared between the two services, only these values.
public enum SlackButton {
    public static let approveAction = "greenlight_approve"
    public static let rejectAction = "greenlight_reject"
    /// The link button to the review page: Slack reports its clicks too, and they change nothing.
    public static let reviewAction = "greenlight_review"
    /// The `callback_id` of the modal that asks for a decision's typed answers.
    public static let modalCallbackId = "greenlight_decision"

    public static func action(for decision: Decision) -> String {
        decision == .approve ? approveAction : rejectAction
    }

    public static func decision(forAction action: String) -> Decision? {
        switch action {
        case approveAction: .approve
        case rejectAction: .reject
        default: nil
        }
    }

    /// A decision button's value: the approver's link token and the Slack user the message went to
    /// (`<token>:<user>`). Only that user's click counts, and only as the token's approver.
    public static func value(token: String, slackUser: String) -> String {
        "\(token):\(slackUser)"
    }

    public static func parse(_ value: String) -> (token: String, slackUser: String)? {
        let parts = value.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    /// The modal's `private_metadata`: the decision and the button's value (`<decision>:<token>:<user>`).
    public static func modalMetadata(decision: Decision, token: String, slackUser: String) -> String {
        "\(decision.rawValue):\(value(token: token, slackUser: slackUser))"
    }

    public static func parseModalMetadata(_ text: String) -> (decision: Decision, token: String, slackUser: String)? {
        guard let colon = text.firstIndex(of: ":"), let decision = Decision(rawValue: String(text[..<colon])),
            let button = parse(String(text[text.index(after: colon)...]))
        else { return nil }
        return (decision, button.token, button.slackUser)
    }
}
