import ApprovalStore
import DurableExecution
import Foundation
import GreenlightModels

extension ApprovalWorkflow {
    /// The delegation that applies to `approver` on this request, or nil: a delegation to oneself means nothing, and
    /// under four eyes a delegate who requested the approval cannot stand in (the approver is then asked as usual).
    func standsIn(_ delegation: Delegation, for approver: String, requester: String?, _ step: StepContext) -> Delegation? {
        guard delegation.delegate.lowercased() != approver.lowercased() else { return nil }
        if fourEyes, let requester, requester.lowercased() == delegation.delegate.lowercased() {
            step.record(
                "DelegationSkipped",
                [
                    "Approver": .string(approver), "Delegate": .string(delegation.delegate),
                    "Reason": .string("\(DecisionVerdict.fourEyes): the delegate requested this approval"),
                ])
            return nil
        }
        return delegation
    }

    /// Moves the pending request from `move.from` to `move.to` (who is then invited by the caller), or records why
    /// not: the old approver must be one, with no vote in their place yet, and the new one must not be one already
    /// (nor, under four eyes, the requester). True when it moved.
    func reassign(_ move: ReassignRequested, request: ApprovalRequested, _ step: StepContext) async throws -> Bool {
        let writer = ApprovalWriter(step.connection)
        let (pending, _, votes) = try await writer.decisionState(requestId: move.requestId, tokenHash: nil)
        var details: [String: JSONValue] = ["From": .string(move.from), "To": .string(move.to)]
        if let reason = move.reason { details["Reason"] = .string(reason) }
        if let key = move.apiKey { details["APIKey"] = .string(key) }
        func refused(_ why: String) -> Bool {
            details["Refused"] = .string(why)
            step.record("ReassignmentRefused", details)
            logger.notice("Reassignment refused: \(why)", metadata: ["requestId": "\(move.requestId)"])
            return false
        }
        guard let pending else { return refused("the request is not waiting for a decision") }
        guard let from = pending.approvers.first(where: { $0.lowercased() == move.from.lowercased() }) else {
            return refused("\(move.from) is not an approver of this request")
        }
        details["From"] = .string(from)
        guard !pending.approvers.contains(where: { $0.lowercased() == move.to.lowercased() }) else {
            return refused("\(move.to) is already an approver of this request")
        }
        if let vote = votes.first(where: { Self.place(of: $0).lowercased() == from.lowercased() }) {
            return refused("\(from) has already decided on this request (\(vote.approver))")
        }
        if fourEyes, let requester = pending.requester, requester.lowercased() == move.to.lowercased() {
            return refused("\(DecisionVerdict.fourEyes): \(move.to) requested this approval and cannot decide it")
        }
        try await writer.reassign(requestId: move.requestId, from: from, to: move.to, approvers: pending.approvers, at: step.now)
        step.record("ApproverReassigned", details)
        logger.info(
            "Request reassigned", metadata: ["requestId": "\(move.requestId)", "eventId": "\(move.eventId)"])
        return true
    }
}
