import ApprovalStore
import DurableExecution
import Foundation
import GreenlightModels
import Logging

/// The approval workflow, written against the durable engine: create the callback, record the request, notify
/// the approvers, wait for the decision (or the deadline), finalize, emit the outcome.
public struct ApprovalWorkflow: Workflow {
    public static let name = "approval"
    /// The callback an approval waits on.
    public static let callbackName = "wait-for-approval"

    /// What new link tokens are derived with (`GREENLIGHT_LINK_SECRET`); each token keeps its secret's id.
    let linkSecret: LinkSecret

    public init(linkSecret: LinkSecret) {
        self.linkSecret = linkSecret
    }

    public func run(context: DurableContext, input request: ApprovalRequested) async throws -> ApprovalCompleted {
        let startedAt = try await context.now()
        let expiresAt = startedAt.addingTimeInterval(TimeInterval(request.timeoutSeconds))
        let callback = try await context.createCallback(
            Self.callbackName, timeout: .seconds(request.timeoutSeconds),
            heartbeatTimeout: request.heartbeatTimeoutSeconds.map { .seconds($0) })

        /// Publishes a lifecycle stage through the outbox, with the step that reached it.
        func lifecycle(_ stage: ApprovalLifecycle.Stage, _ step: StepContext, at: Date? = nil, approvers: [String]? = nil)
            async throws
        {
            try await step.emit(
                topic: Topic.lifecycle.rawValue, key: request.requestId,
                event: ApprovalLifecycle(
                    requestId: request.requestId, executionId: context.executionId, stage: stage, at: at ?? step.now,
                    approvers: approvers))
        }
        try await context.step("record-request") { step in
            let recorded = try await ApprovalWriter(step.connection).insertRequest(
                request, executionId: context.executionId, callbackId: callback.callbackId, expiresAt: expiresAt,
                trace: context.trace)
            try await lifecycle(.requested, step, at: startedAt)
            return recorded
        }
        func notification(_ approver: String, nonce: UUID, linkKey: String?, kind: NotificationKind) -> NotificationRequested {
            NotificationRequested(
                requestId: request.requestId, executionId: context.executionId, approver: approver, tokenNonce: nonce,
                linkKey: linkKey, kind: kind, channel: request.notify, amount: request.amount, currency: request.currency, description: request.description,
                requester: request.requester, submittedAt: request.submittedAt, expiresAt: expiresAt,
                onTimeout: request.onTimeout == .approve ? .approve : nil)
        }
        /// Gives each approver a link (only its hash and nonce are stored) and queues their notification.
        func invite(_ approvers: [String], kind: NotificationKind, step: StepContext) async throws {
            let writer = ApprovalWriter(step.connection)
            for approver in approvers {
                let nonce = LinkToken.newNonce()
                try await writer.insertLinkToken(
                    hash: LinkToken.hash(LinkToken.derive(secret: linkSecret, nonce: nonce)), nonce: nonce, linkKey: linkSecret.id,
                    requestId: request.requestId, callbackId: callback.callbackId, approver: approver, expiresAt: expiresAt)
                try await step.emit(
                    topic: Topic.notifications.rawValue, key: request.requestId,
                    event: notification(approver, nonce: nonce, linkKey: linkSecret.id, kind: kind))
            }
        }
        _ = try await context.step("notify-approvers") { step in
            try await invite(request.approvers, kind: .request, step: step)
            try await lifecycle(.notified, step, approvers: request.approvers)
            return request.approvers.count
        }

        // Reminders and escalation, in time order, each only if the request is still undecided by then.
        var marks: [(seconds: Int, action: String)] = []
        if let remind = request.remindAfterSeconds { marks.append((remind, "remind")) }
        if let escalate = request.escalateAfterSeconds, let escalateTo = request.escalateTo, !escalateTo.isEmpty {
            marks.append((escalate, "escalate"))
        }
        var elapsed = 0
        for mark in marks.sorted(by: { $0.seconds < $1.seconds }) {
            let decided = try await context.waitForCallback(
                callback, upTo: .seconds(mark.seconds - elapsed), name: "\(mark.action)-after")
            if decided { break }
            elapsed = mark.seconds
            if mark.action == "remind" {
                _ = try await context.step("remind-approvers") { step in
                    let undecided = try await ApprovalWriter(step.connection).undecidedApprovers(requestId: request.requestId)
                    for (approver, nonce, linkKey) in undecided {
                        try await step.emit(
                            topic: Topic.notifications.rawValue, key: request.requestId,
                            event: notification(approver, nonce: nonce, linkKey: linkKey, kind: .reminder))
                    }
                    try await lifecycle(.reminded, step, approvers: undecided.map(\.approver))
                    return undecided.map(\.approver)
                }
            } else {
                _ = try await context.step("escalate") { step in
                    let added = request.escalateTo ?? []
                    try await ApprovalWriter(step.connection).addApprovers(added, requestId: request.requestId)
                    try await invite(added, kind: .escalation, step: step)
                    try await lifecycle(.escalated, step, approvers: added)
                    return added
                }
            }
        }

        let verdict: Verdict
        do {
            let decision = try await callback.result(as: ApprovalDecisionPayload.self)
            verdict = Verdict(decision: decision)
        } catch let error as DurableError where error.isTimeout {
            verdict = Verdict(
                status: request.onTimeout == .approve ? .approved : .timedOut, error: error)
        } catch let error as DurableError {
            verdict = Verdict(status: error.errorType == DurableError.executionStopped ? .cancelled : .failed, error: error)
        }

        return try await context.step("finalize") { step in
            let completedAt = step.now
            let outcome = ApprovalCompleted(
                requestId: request.requestId, executionId: context.executionId, status: verdict.status,
                decidedBy: verdict.decidedBy, decidedAt: verdict.decidedAt, channel: verdict.channel,
                comment: verdict.comment, errorType: verdict.error?.errorType, errorMessage: verdict.error?.errorMessage,
                votes: verdict.votes, apiKey: verdict.apiKey, completedAt: completedAt)
            let writer = ApprovalWriter(step.connection)
            _ = try await writer.completeRequest(
                requestId: request.requestId, status: verdict.status, decidedBy: verdict.decidedBy,
                decidedAt: verdict.decidedAt, channel: verdict.channel, comment: verdict.comment,
                errorType: verdict.error?.errorType, errorMessage: verdict.error?.errorMessage, completedAt: completedAt)
            try await writer.expireLinkTokens(requestId: request.requestId, at: completedAt)
            if let decidedBy = verdict.decidedBy {
                try await step.emit(
                    topic: Topic.lifecycle.rawValue, key: request.requestId,
                    event: ApprovalLifecycle(
                        requestId: request.requestId, executionId: context.executionId, stage: .decided,
                        at: verdict.decidedAt ?? completedAt, decision: verdict.status == .approved ? .approve : .reject,
                        decidedBy: decidedBy, channel: verdict.channel))
            } else if verdict.error?.isTimeout == true {
                try await lifecycle(.expired, step, at: completedAt)
            }
            try await step.emit(
                topic: Topic.lifecycle.rawValue, key: request.requestId,
                event: ApprovalLifecycle(
                    requestId: request.requestId, executionId: context.executionId, stage: .completed, at: completedAt,
                    status: verdict.status))
            try await step.emit(topic: Topic.outcomes.rawValue, key: request.requestId, event: outcome)
            return outcome
        }
    }

    /// How the wait for a decision ended.
    struct Verdict: Codable, Sendable {
        var status: ApprovalStatus
        var decidedBy: String?
        var decidedAt: Date?
        var channel: DecisionChannel?
        var comment: String?
        var error: DurableError?
        var votes: [ApprovalVote]?
        var apiKey: String?

        init(decision: ApprovalDecisionPayload) {
            switch decision.decision.lowercased() {
            case "approved", "approve": status = .approved
            default: status = .rejected
            }
            decidedBy = decision.approver
            decidedAt = decision.decidedAt
            channel = decision.channel ?? .api
            comment = decision.comment
            votes = decision.votes
            apiKey = decision.apiKey
        }

        init(status: ApprovalStatus, error: DurableError) {
            self.status = status
            self.error = error
        }
    }
}
