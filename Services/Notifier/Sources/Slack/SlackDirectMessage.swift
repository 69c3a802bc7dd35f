import Foundation
import GreenlightModels

/// The Slack direct message that asks an approver to decide: the request's summary (as the webhook shows it), the
/// Approve and Reject buttons, which post interactions to the callback receiver, and a link to the review page.
enum SlackDirectMessage {
    struct Message {
        /// The notification's fallback text (Slack's notifications and screen readers).
        var text: String
        /// The summary section's mrkdwn, kept to show above the outcome when the request ends.
        var summary: String
        var blocks: JSONValue
    }

    static func make(
        for notification: NotificationRequested, linkToken: String, slackUser: String, publicURL: String, now: Date = Date()
    ) -> Message {
        let (heading, details) = WebhookMessage.summary(for: notification, now: now)
        let amount = HumanFormat.amount(notification.amount, currency: notification.currency)
        let headline = amount.map { "\(notification.description) (\($0))" } ?? notification.description
        let value = SlackButton.value(token: linkToken, slackUser: slackUser)
        let blocks: JSONValue = .array([
            section(details),
            .object([
                "type": .string("actions"), "block_id": .string("greenlight"),
                "elements": .array([
                    button("Approve", action: SlackButton.approveAction, value: value, style: "primary"),
                    button("Reject", action: SlackButton.rejectAction, value: value, style: "danger"),
                    .object([
                        "type": .string("button"), "action_id": .string(SlackButton.reviewAction),
                        "text": .object(["type": .string("plain_text"), "text": .string("Review")]),
                        "url": .string("\(publicURL)/r/\(linkToken)"),
                    ]),
                ]),
            ]),
        ])
        return Message(text: WebhookMessage.slack("\(heading): \(headline)"), summary: details, blocks: blocks)
    }

    /// The message once its request ended: the summary, then what became of it — no buttons.
    static func ended(summary: String, outcome: String) -> (text: String, blocks: JSONValue) {
        let escaped = WebhookMessage.slack(outcome)
        return (escaped, .array([section(summary), section("*\(escaped)*")]))
    }

    /// "Approved by X at T", "Rejected by …", "Expired", "Cancelled": what the request's messages say at its end.
    static func outcomeText(_ outcome: ApprovalCompleted) -> String {
        let when = HumanFormat.utc(outcome.decidedAt ?? outcome.completedAt)
        switch outcome.status {
        case .approved:
            return outcome.decidedBy.map { "Approved by \($0) at \(when)" } ?? "Approved when its deadline passed, at \(when)"
        case .rejected:
            return outcome.decidedBy.map { "Rejected by \($0) at \(when)" } ?? "Rejected at \(when)"
        case .timedOut: return "Expired at \(when): nobody decided before the deadline"
        case .cancelled: return "Cancelled at \(when)"
        case .failed: return "Failed at \(when)"
        case .pending: return "Pending"
        }
    }

    static func section(_ mrkdwn: String) -> JSONValue {
        .object(["type": .string("section"), "text": .object(["type": .string("mrkdwn"), "text": .string(mrkdwn)])])
    }

    static func button(_ text: String, action: String, value: String, style: String) -> JSONValue {
        .object([
            "type": .string("button"), "action_id": .string(action), "value": .string(value), "style": .string(style),
            "text": .object(["type": .string("plain_text"), "text": .string(text)]),
        ])
    }
}
