import ApprovalStore
import Foundation
import GreenlightModels
import Logging

/// The approval workflow's steps. Each runs inside the transaction that handles one event or timer; whatever it
/// writes, including the events it emits through the outbox, commits together with that event's inbox row.
public struct ApprovalWorkflow: Sendable {
    /// The name of the callback an approval waits on.
    public static let callbackName = "wait-for-approval"

    public init() {}

    /// Starts a workflow: execution, callback with its deadline, one link token per approver (hash only), the
    /// deadline timer, and one notification per approver. A request id seen before starts nothing.
    public func start(_ request: ApprovalRequested, writer: ApprovalWriter, now: Date, logger: Logger) async throws {
        let executionId = UUID()
        let expiresAt = now.addingTimeInterval(TimeInterval(request.timeoutSeconds))
        guard try await writer.insertExecution(request, executionId: executionId, expiresAt: expiresAt) else {
            logger.notice("Request id already has a workflow; ignoring the duplicate", metadata: ["requestId": "\(request.requestId)"])
            return
        }
        let callbackId = UUID()
        try await writer.insertCallback(
            callbackId: callbackId, requestId: request.requestId, name: Self.callbackName, timeoutAt: expiresAt)
        try await writer.insertTimer(timerId: UUID(), requestId: request.requestId, callbackId: callbackId, dueAt: expiresAt)
        for approver in request.approvers {
            let token = LinkToken.generate()
            try await writer.insertLinkToken(
                hash: LinkToken.hash(token), requestId: request.requestId, callbackId: callbackId, approver: approver,
                expiresAt: expiresAt)
            try await writer.enqueue(
                NotificationRequested(
                    requestId: request.requestId, executionId: executionId, approver: approver, linkToken: token,
                    amount: request.amount, currency: request.currency, description: request.description,
                    requester: request.requester, submittedAt: request.submittedAt, expiresAt: expiresAt))
        }
        logger.info(
            "Workflow started; waiting for a decision",
            metadata: ["requestId": "\(request.requestId)", "executionId": "\(executionId)", "callbackId": "\(callbackId)"])
    }

    /// Applies a decision: the first valid one completes the callback and the workflow; any other is recorded
    /// as a late or invalid attempt and changes nothing else.
    public func decide(_ decision: DecisionSubmitted, writer: ApprovalWriter, now: Date, logger: Logger) async throws {
        let metadata: Logger.Metadata = ["requestId": "\(decision.requestId)", "eventId": "\(decision.eventId)"]
        func reject(_ reason: String) async throws {
            logger.notice("Decision not applied: \(reason)", metadata: metadata)
            try await writer.recordDecisionAttempt(decision, accepted: false, reason: reason)
        }
        guard let execution = try await writer.lockExecution(requestId: decision.requestId) else {
            return try await reject("no workflow exists for this request id")
        }
        guard execution.status == .pending else {
            return try await reject("the request is already \(execution.status.rawValue)")
        }
        if let hash = decision.tokenHash {
            guard let token = try await writer.linkToken(hash: hash), token.requestId == decision.requestId else {
                return try await reject("the link token does not belong to this request")
            }
            guard token.usedAt == nil else { return try await reject("the link token was already used") }
            guard token.expiresAt > decision.decidedAt else { return try await reject("the link token had expired") }
        }
        guard let callbackId = try await writer.startedCallback(requestId: decision.requestId) else {
            return try await reject("the request has no callback waiting")
        }
        let result = String(
            decoding: try GreenlightJSON.encode(
                ["decision": decision.decision.rawValue, "decidedBy": decision.decidedBy, "comment": decision.comment ?? ""]),
            as: UTF8.self)
        guard try await writer.endCallback(callbackId: callbackId, status: "succeeded", result: result, at: now) else {
            return try await reject("the callback has already ended")
        }
        if let hash = decision.tokenHash { try await writer.markLinkTokenUsed(hash: hash, at: now) }
        try await writer.cancelTimers(callbackId: callbackId, at: now)
        let status: ApprovalStatus = decision.decision == .approve ? .approved : .rejected
        try await writer.completeExecution(
            requestId: decision.requestId, status: status, decidedBy: decision.decidedBy, decidedAt: decision.decidedAt,
            channel: decision.channel, comment: decision.comment, completedAt: now)
        try await writer.recordDecisionAttempt(decision, accepted: true, reason: nil)
        try await writer.enqueue(
            ApprovalCompleted(
                requestId: decision.requestId, executionId: execution.executionId, status: status,
                decidedBy: decision.decidedBy, decidedAt: decision.decidedAt, channel: decision.channel,
                comment: decision.comment, completedAt: now))
        logger.info("Workflow completed: \(status.rawValue)", metadata: metadata)
    }

    /// Fires a deadline: if the callback is still waiting, it times out and the request is rejected as timed out.
    public func fire(_ timer: DueTimer, writer: ApprovalWriter, now: Date, logger: Logger) async throws {
        try await writer.markTimerFired(timerId: timer.timerId, at: now)
        guard let execution = try await writer.lockExecution(requestId: timer.requestId), execution.status == .pending
        else { return }
        let result = #"{"errorType":"Callback.Timeout","errorMessage":"no decision before the deadline"}"#
        guard try await writer.endCallback(callbackId: timer.callbackId, status: "timed_out", result: result, at: now)
        else { return }
        try await writer.completeExecution(
            requestId: timer.requestId, status: .timedOut, decidedBy: nil, decidedAt: nil, channel: nil, comment: nil,
            completedAt: now)
        try await writer.enqueue(
            ApprovalCompleted(
                requestId: timer.requestId, executionId: execution.executionId, status: .timedOut, decidedBy: nil,
                decidedAt: nil, channel: nil, comment: nil, completedAt: now))
        logger.info(
            "Workflow timed out; request rejected",
            metadata: ["requestId": "\(timer.requestId)", "lateness": "\(now.timeIntervalSince(timer.dueAt))"])
    }
}
