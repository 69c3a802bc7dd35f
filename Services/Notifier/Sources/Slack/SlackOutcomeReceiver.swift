import DurableExecution
import Foundation
import GreenlightModels
import Kafka
import Logging
import ServiceSupport

/// Consumes `approvals.outcomes` in a group of its own (`greenlight-notifier-slack`): each request's end is stored
/// with the text its Slack messages will show, before the offsets are committed, and the updater is woken. Anything
/// on the topic that is not an `ApprovalCompleted` is not for this reader and is passed over.
struct SlackOutcomeReceiver: Sendable {
    static let consumerGroup = "greenlight-notifier-slack"

    let consumer: KafkaConsumer
    let store: SlackMessageStore
    let wakeUp: WakeUpSignal
    let logger: Logger

    func run() async throws {
        let logger = self.logger
        try await consumer.forEachBatchByPartition(maxBatch: 64, { try await receive($0) }) { _, error in
            logger.warning("Outcome offsets not committed; they will be read again", metadata: ["error": "\(error)"])
        }
    }

    func receive(_ messages: [KafkaMessage]) async throws {
        let outcomes = messages.compactMap { message -> (requestId: String, text: String)? in
            guard let outcome = try? GreenlightJSON.decode(ApprovalCompleted.self, from: Data(message.value)),
                outcome.type == ApprovalCompleted.eventType
            else { return nil }
            return (outcome.requestId, SlackDirectMessage.outcomeText(outcome))
        }
        // The database away pauses this partition (nothing is lost: the offsets wait too).
        try await Backoff().retrying("Storing outcomes for Slack", logger: logger) {
            try await store.recordOutcomes(outcomes)
        }
        if !outcomes.isEmpty { wakeUp.signal() }
    }
}

/// Updates every Slack message whose request ended (`chat.update`: the summary and the outcome, no buttons), from
/// `slack_messages`, so an update survives restarts and Slack's outages. `ratelimited` waits Slack's `Retry-After`;
/// a message Slack no longer has (deleted, the conversation gone) is given up with why.
struct SlackMessageUpdater: Sendable {
    let api: SlackWebAPI
    let store: SlackMessageStore
    let schedule: Backoff
    let wakeUp: WakeUpSignal
    let logger: Logger
    /// How long updated messages are remembered (`GREENLIGHT_INBOX_RETENTION_HOURS`, as the delivery queue's rows).
    var retention: Duration = .seconds(7 * 86_400)
    var pollInterval: Duration = .seconds(1)

    func run() async throws {
        var lastPrune = ContinuousClock.now - .seconds(3600)
        while !Task.isCancelled {
            do {
                if ContinuousClock.now - lastPrune > .seconds(60) {
                    lastPrune = ContinuousClock.now
                    let pruned = try await store.prune(retention: retention)
                    if pruned > 0 { logger.info("Cleaned up updated Slack messages", metadata: ["rows": "\(pruned)"]) }
                }
                if let update = try await store.claimUpdate() {
                    try await apply(update)
                    continue
                }
            } catch is CancellationError {
                return
            } catch {
                logger.warning("Updating Slack messages failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            await wakeUp.wait(timeout: pollInterval)
        }
    }

    func apply(_ update: SlackMessageStore.Update) async throws {
        let (text, blocks) = SlackDirectMessage.ended(summary: update.summary, outcome: update.finalText)
        // The failure's facts are read inside the catch: the release build's optimiser crashed on a typed error kept
        // past its `catch` (Swift 6.3.1, "Found ownership error" in this function).
        var failure: (isPermanent: Bool, retryAfter: Int?, description: String)?
        do throws(SlackError) {
            try await api.updateMessage(channel: update.channel, ts: update.ts, text: text, blocks: blocks)
        } catch {
            failure = (error.isPermanent, error.retryAfter, error.description)
        }
        guard let failure else {
            try await store.finishUpdate(update, error: nil)
            logger.info("Slack message updated", metadata: ["notificationId": "\(update.id)"])
            return
        }
        if failure.isPermanent {
            try await store.finishUpdate(update, error: failure.description)
            logger.error("A Slack message could not be updated", metadata: ["notificationId": "\(update.id)", "error": "\(failure.description)"])
        } else {
            let delay = failure.retryAfter.map(Double.init) ?? schedule.delaySeconds(afterAttempt: update.attempt)
            try await store.retryUpdate(update, after: delay, error: failure.description)
            logger.warning(
                "Updating a Slack message failed; trying again later",
                metadata: ["notificationId": "\(update.id)", "error": "\(failure.description)", "retryInSeconds": "\(Int(delay.rounded(.up)))"])
        }
    }
}
