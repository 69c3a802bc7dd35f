import ApprovalStore
import DurableExecution
import Foundation
import GreenlightModels
import Logging
import Metrics
import Postgres

/// Delivery reports from the notifiers and requests to resend links, inside the transaction of the event that
/// carries them.
struct NotificationHandler: Sendable {
    let engine: DurableEngine
    let logger: Logger

    /// Keeps the latest report per notification (the status shows it) and writes each to the history, so that a
    /// failed notification is never silent.
    func apply(_ report: NotificationDelivery, on connection: PostgresConnection) async throws {
        try await ApprovalWriter(connection).recordDelivery(report)
        var details: [String: JSONValue] = [
            "Approver": .string(report.approver), "Kind": .string(report.kind.rawValue),
            "Attempt": .number(Double(report.attempt)),
        ]
        if let error = report.error { details["Error"] = .string(error) }
        let type: String
        switch report.result {
        case .delivered: type = "NotificationDelivered"
        case .retrying: type = "NotificationRetrying"
        case .failed: type = "NotificationFailed"
        }
        try await engine.recordHistory(executionNamed: report.requestId, type: type, details: details, on: connection, now: report.at)
        Counter(label: "greenlight_notification_reports_total", dimensions: [("result", report.result.rawValue)]).increment()
        if report.result == .failed {
            logger.error(
                "An approver could not be notified",
                metadata: ["requestId": "\(report.requestId)", "approver": "\(report.approver)", "error": "\(report.error ?? "")"])
        }
    }

    /// Sends the approvers who have not decided (or the one named) their link again: the same link, in a new
    /// message. Nothing happens for a request that is no longer pending.
    func apply(_ resend: ResendRequested, trace: TraceContext?, on connection: PostgresConnection) async throws {
        try await engine.lock(executionNamed: resend.requestId, on: connection)
        let writer = ApprovalWriter(connection)
        guard try await writer.lockPendingRequest(requestId: resend.requestId) != nil,
            let request = try await writer.notificationDetails(requestId: resend.requestId)
        else {
            logger.notice("Nothing to resend: the request is not pending", metadata: ["requestId": "\(resend.requestId)"])
            return
        }
        let targets = try await writer.undecidedApprovers(requestId: resend.requestId).filter { target in
            resend.approver.map { $0.lowercased() == target.approver.lowercased() } ?? true
        }
        for (approver, nonce, linkKey) in targets {
            let notification = NotificationRequested(
                requestId: resend.requestId, executionId: request.executionId, approver: approver, tokenNonce: nonce,
                linkKey: linkKey, kind: .request, channel: request.channel == .email ? nil : request.channel, amount: request.amount, currency: request.currency, description: request.description,
                requester: request.requester, submittedAt: request.submittedAt, expiresAt: request.expiresAt,
                onTimeout: request.onTimeout == .approve ? .approve : nil)
            try await engine.enqueue(notification, trace: trace, on: connection)
        }
        let approvers = targets.map(\.approver)
        try await engine.recordHistory(
            executionNamed: resend.requestId, type: "NotificationsResent",
            details: ["Approvers": .array(approvers.map(JSONValue.string))].merging(
                resend.apiKey.map { ["APIKey": .string($0)] } ?? [:]) { a, _ in a },
            on: connection)
        guard !approvers.isEmpty else { return }
        let notified = ApprovalLifecycle(
            requestId: resend.requestId, executionId: request.executionId, stage: .notified,
            at: try await connection.databaseTime(), approvers: approvers)
        try await engine.enqueue(notified, trace: trace, on: connection)
    }
}

extension NotificationHandler {
    /// Emails an approver what became of their decision, whose page could not say in time. The decision was taken
    /// before this (same key, same partition), so its verdict is recorded. Only for email requests (a webhook goes
    /// to a shared destination, not to the approver), and only to the approver a link of the request was issued to
    /// who made that decision by link: anyone may publish on the decisions topic, and a receipt must not be a way to
    /// mail a request's details to an address of one's choosing.
    func apply(_ ask: DecisionReceiptRequested, trace: TraceContext?, on connection: PostgresConnection) async throws {
        try await engine.lock(executionNamed: ask.requestId, on: connection)
        let writer = ApprovalWriter(connection)
        guard let request = try await writer.notificationDetails(requestId: ask.requestId), request.channel == .email else {
            logger.notice("No receipt: the request is unknown or not notified by email", metadata: ["requestId": "\(ask.requestId)"])
            return
        }
        guard try await writer.isLinkDecision(requestId: ask.requestId, eventId: ask.decisionEventId, by: ask.approver) else {
            logger.notice(
                "No receipt: no link decision by that approver with that event id",
                metadata: ["requestId": "\(ask.requestId)", "decisionEventId": "\(ask.decisionEventId)"])
            return
        }
        let verdict = try await writer.verdict(requestId: ask.requestId, eventId: ask.decisionEventId)
        // Sent even after the request's deadline (the notifier sends nothing past a message's expiry).
        let now = try await connection.databaseTime()
        // A receipt has no links; its nonce derives nothing anyone holds.
        let receipt = NotificationRequested(
            requestId: ask.requestId, executionId: request.executionId, approver: ask.approver, tokenNonce: UUID(),
            kind: .receipt, amount: request.amount, currency: request.currency, description: request.description,
            requester: request.requester, submittedAt: request.submittedAt,
            expiresAt: max(request.expiresAt, now.addingTimeInterval(86_400)),
            receipt: DecisionVerdict.sentence(verdict, decision: ask.decision, requestId: ask.requestId))
        try await engine.enqueue(receipt, trace: trace, on: connection)
    }
}

extension DurableEngine {
    /// Queues a Greenlight event through the outbox, on its own topic, keyed by its request id.
    func enqueue<Event: GreenlightEvent>(_ event: Event, trace: TraceContext?, on connection: PostgresConnection)
        async throws
    {
        try await enqueue(
            topic: Event.topic.rawValue, key: event.requestId,
            payload: String(decoding: try GreenlightJSON.encode(event), as: UTF8.self), trace: trace, on: connection)
    }
}
