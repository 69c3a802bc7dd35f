import DurableExecution
import Foundation
import GreenlightModels
import Logging
import Metrics
import ServiceSupport

/// What a sender needs to post Slack direct messages.
struct SlackDelivery: Sendable {
    let api: SlackWebAPI
    let store: SlackMessageStore
    /// Wakes the updater: a message posted after its request ended is updated at once.
    let updates: WakeUpSignal

    func wakeUpdater() { updates.signal() }
}

extension DeliveryWorker {
    /// One attempt at a Slack direct message: finds the approver by email, posts the message with its buttons, and
    /// keeps it (to update when the request ends) before recording it sent. A person Slack does not know, or a
    /// setting Slack refuses (a missing scope, a revoked token), fails it for good — their email went anyway;
    /// `ratelimited` tries again after Slack's `Retry-After`; anything else with the queue's back-off. Logs name the
    /// request and the Slack error code, never the token or the link.
    func deliverSlack(_ claim: DeliveryQueue.Claim) async throws {
        let notification: NotificationRequested
        let token: String
        do {
            (notification, token) = try NotificationDecoding.decode(Array(claim.payload.utf8), keys: configuration.linkKeys)
        } catch {
            // The email of the same notification is dead-lettered with why; the direct message just ends.
            try await record(claim, .failed(error: "the stored notification cannot be read: \(error)"))
            return
        }
        var metadata: Logger.Metadata = [
            "requestId": "\(notification.requestId)", "eventId": "\(notification.eventId)", "attempt": "\(claim.attempt)",
        ]
        guard let slack else {
            try await record(claim, .failed(error: "Slack is not configured: set GREENLIGHT_SLACK_BOT_TOKEN for the notifier"))
            return
        }
        if claim.now >= claim.deadline {
            Counter(label: "greenlight_slack_messages_total", dimensions: [("result", "expired")]).increment()
            try await record(claim, .failed(error: "the request's deadline passed before the Slack message could be posted"))
            return
        }
        // Posted by a sender that died before recording it: not posted again.
        if try await slack.store.isPosted(claim.notificationId) {
            try await record(claim, .sent)
            return
        }
        let publicURL = configuration.publicURL
        enum Attempt: Sendable {
            case posted(user: String, channel: String, ts: String, summary: String)
            case failed(SlackError)
        }
        let attempt: Attempt = await keepingClaim(
            claim, whileCancelled: .failed(SlackError(method: "chat.postMessage", kind: .unreachable("the send was cancelled")))
        ) {
            do throws(SlackError) {
                let user = try await slack.api.lookUpUser(email: notification.approver)
                let message = SlackDirectMessage.make(for: notification, linkToken: token, slackUser: user, publicURL: publicURL)
                let (channel, ts) = try await slack.api.postMessage(channel: user, text: message.text, blocks: message.blocks)
                return .posted(user: user, channel: channel, ts: ts, summary: message.summary)
            } catch {
                return .failed(error)
            }
        }
        switch attempt {
        case .posted(let user, let channel, let ts, let summary):
            try await Backoff().retrying("Recording a Slack message", logger: logger) {
                try await slack.store.recordPosted(
                    id: claim.notificationId, requestId: notification.requestId, approver: notification.approver,
                    slackUser: user, channel: channel, ts: ts, summary: summary)
            }
            try await record(claim, .sent)
            slack.wakeUpdater()
            Counter(label: "greenlight_slack_messages_total", dimensions: [("result", "sent")]).increment()
            logger.info("Approver messaged on Slack", metadata: metadata)
        case .failed(let error) where error.isPermanent:
            metadata["error"] = "\(error)"
            try await record(claim, .failed(error: error.description))
            Counter(label: "greenlight_slack_messages_total", dimensions: [("result", "failed")]).increment()
            logger.error("An approver could not be messaged on Slack (their email goes as usual)", metadata: metadata)
        case .failed(let error):
            let delay = error.retryAfter.map(Double.init) ?? schedule.delaySeconds(afterAttempt: claim.attempt)
            metadata["error"] = "\(error)"
            metadata["retryInSeconds"] = "\(Int(delay.rounded(.up)))"
            try await record(claim, .retry(error: error.description, after: delay))
            Counter(label: "greenlight_slack_messages_total", dimensions: [("result", "retried")]).increment()
            logger.warning("Posting a Slack message failed; trying again later", metadata: metadata)
        }
    }
}
