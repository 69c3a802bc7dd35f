import Crypto
import Foundation
import GreenlightModels
import Kafka
import Logging
import ServiceSupport
import Synchronization

/// Publishes delivery reports (`NotificationDelivery` or `WebhookDelivery`, on `approvals.internal`) for the
/// orchestrator: each right after its outcome is recorded, and, every few seconds, those that could not be published
/// then (the broker was away, the sender stopped). A report's `eventId` is derived from the notification, the result and the attempt,
/// so one published twice is applied once. Also prunes finished messages after `retention`.
///
/// A published report is cleared from its row a little later, together with the others published meanwhile, in one
/// statement (`clearPublished`, every `clearInterval`): a statement per report was a quarter of the notifier's statements.
/// One published and not cleared yet when the notifier stops, or while the database is away, is published again by
/// the sweep, and applied once.
struct DeliveryReporter: Sendable {
    let queue: DeliveryQueue
    let producer: KafkaProducer
    let logger: Logger
    /// How long finished messages are kept: at least as long as `approvals.notifications` keeps a message, so that
    /// one delivered again (offsets reset) is still recognised.
    var retention: Duration = .seconds(7 * 86_400)
    var sweepInterval: Duration = .seconds(5)
    /// How often published reports are cleared from their rows, all those gathered in one statement.
    var clearInterval: Duration = .milliseconds(200)
    /// Reports published and not cleared yet.
    let published = PublishedReports()

    /// Publishes the report `DeliveryQueue.record` just recorded and returned, if any; one that fails waits for the
    /// sweep.
    func publishRecorded(_ report: DeliveryQueue.Report?, trace: TraceContext?) async {
        guard let report else { return }
        do {
            try await publish(report, trace: trace ?? Self.trace(of: report))
        } catch {
            logger.warning(
                "Delivery report not published yet; it will be retried",
                metadata: ["notificationId": "\(report.notificationId)", "error": "\(error)"])
        }
    }

    func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await sweep() }
            group.addTask { try await clearing() }
            try await group.waitForAll()
        }
    }

    /// Clears the reports published so far from their rows, in one statement; put back to be tried again if that fails.
    func clearPublished() async throws {
        let reports = published.take()
        do {
            try await queue.clearReports(reports)
        } catch {
            published.putBack(reports)
            throw error
        }
    }

    private func clearing() async throws {
        while !Task.isCancelled {
            do {
                try await clearPublished()
            } catch is CancellationError {
                return
            } catch {
                logger.warning("Clearing published delivery reports failed; retrying", metadata: ["error": "\(error)"])
            }
            try await Task.sleep(for: clearInterval)
        }
    }

    private func sweep() async throws {
        var lastPrune = ContinuousClock.now - .seconds(3600)
        while !Task.isCancelled {
            do {
                for report in try await queue.pendingReports(olderThan: .seconds(10), limit: 100) {
                    try await publish(report, trace: Self.trace(of: report))
                }
                if ContinuousClock.now - lastPrune > .seconds(60) {
                    lastPrune = ContinuousClock.now
                    let pruned = try await queue.prune(retention: retention, limit: 1000)
                    if pruned > 0 { logger.info("Cleaned up delivered notifications", metadata: ["messages": "\(pruned)"]) }
                }
            } catch is CancellationError {
                return
            } catch {
                logger.warning("Publishing delivery reports failed; retrying", metadata: ["error": "\(error)"])
            }
            try await Task.sleep(for: sweepInterval)
        }
    }

    private func publish(_ report: DeliveryQueue.Report, trace: TraceContext) async throws {
        let publisher = KafkaEventPublisher(producer: producer, deadline: .seconds(10))
        let eventId = Self.eventId(notification: report.notificationId, result: report.result, attempt: report.attempt)
        switch report.kind {
        case .notification:
            let notification = try GreenlightJSON.decode(NotificationRequested.self, from: Data(report.payload.utf8))
            try await publisher.publish(
                NotificationDelivery(
                    eventId: eventId, requestId: notification.requestId, notificationId: report.notificationId,
                    approver: notification.approver, kind: notification.kind ?? .request, result: report.result,
                    attempt: report.attempt, error: report.error, at: report.at),
                trace: trace)
        case .webhook:
            let webhook = try GreenlightJSON.decode(WebhookRequested.self, from: Data(report.payload.utf8))
            try await publisher.publish(
                WebhookDelivery(
                    eventId: eventId, requestId: webhook.requestId, webhookId: webhook.webhookId, eventType: webhook.eventType,
                    attempt: report.attempt, result: report.result,
                    statusCode: report.statusCode, error: report.error, at: report.at),
                trace: trace)
        case .signIn, .digest:
            // Sign-in emails and digests belong to no request: the orchestrator has nothing to hear about them.
            break
        case .slack:
            // The orchestrator follows a notification's email; a Slack message's fate is in the notifier's log and
            // metrics (a report for an id it never issued would be one it cannot place).
            break
        }
        published.add(report)
    }

    /// The trace the message was received in.
    static func trace(of report: DeliveryQueue.Report) -> TraceContext {
        report.trace.flatMap(TraceContext.init(traceparent:)) ?? TraceContext.continuing(nil)
    }

    /// The same report always gets the same id: its consumer applies it once however often it is published.
    static func eventId(notification: UUID, result: NotificationDelivery.Result, attempt: Int) -> UUID {
        nameBasedId("\(notification.uuidString)/\(result.rawValue)/\(attempt)")
    }

    /// The same name always gets the same id.
    static func nameBasedId(_ name: String) -> UUID {
        let digest = Array(SHA256.hash(data: Data(name.utf8)))
        var bytes = Array(digest.prefix(16))
        bytes[6] = (bytes[6] & 0x0f) | 0x50  // a name-based UUID (version 5 layout, SHA-256 digest)
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        return UUID(uuid: (
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10],
            bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}

/// The reports a `DeliveryReporter` published and has not cleared from their rows yet.
final class PublishedReports: Sendable {
    private let reports = Mutex<[DeliveryQueue.Report]>([])

    var count: Int { reports.withLock { $0.count } }

    func add(_ report: DeliveryQueue.Report) {
        reports.withLock { $0.append(report) }
    }

    func take() -> [DeliveryQueue.Report] {
        reports.withLock { reports in
            defer { reports.removeAll() }
            return reports
        }
    }

    func putBack(_ taken: [DeliveryQueue.Report]) {
        reports.withLock { $0.insert(contentsOf: taken, at: 0) }
    }
}
