import ApprovalStore
import DurableExecution
import Foundation
import GreenlightModels
import Logging
import Metrics
import Postgres

/// Turns decisions, callback commands and cancellations into engine calls, inside the transaction of the event
/// that carries them. The first decision that reaches a waiting callback wins; every other one is recorded (who,
/// when, channel, why) and changes nothing.
struct DecisionHandler: Sendable {
    let engine: DurableEngine
    let logger: Logger
    /// Four eyes (`GREENLIGHT_FOUR_EYES`): the person who requested an approval cannot decide it.
    var fourEyes = true

    func apply(_ decision: DecisionSubmitted, trace: TraceContext? = nil, on connection: PostgresConnection) async throws {
        // The execution first, as a timer's transaction does: then the request row, then its link tokens.
        let started = try await engine.lock(executionNamed: decision.requestId, on: connection)
        let writer = ApprovalWriter(connection)
        var metadata: Logger.Metadata = ["requestId": "\(decision.requestId)", "eventId": "\(decision.eventId)"]
        if let trace { metadata["traceId"] = "\(trace.traceId)" }
        /// Writes what happened to the decision into the request's history (when its workflow exists): who, how,
        /// through which API key, and why.
        func audit(_ type: String, approver: String, reason: String) async throws {
            var details: [String: JSONValue] = [
                "Approver": .string(approver), "Decision": .string(decision.decision.rawValue),
                "Channel": .string(decision.channel.rawValue), "Reason": .string(reason),
            ]
            if let key = decision.apiKey { details["APIKey"] = .string(key) }
            try await engine.recordHistory(executionNamed: decision.requestId, type: type, details: details, on: connection)
        }
        func refuse(_ reason: String) async throws {
            logger.notice("Decision not applied: \(reason)", metadata: metadata)
            try await writer.recordDecisionAttempt(decision, accepted: false, reason: reason)
            if started { try await audit("DecisionRefused", approver: decision.decidedBy, reason: reason) }
        }
        guard started else {
            // Only the decisions topic can get ahead of a request (links and the API need it to exist). The
            // decision waits as it is and goes through `apply` — policy, votes and all — once the workflow starts
            // (`applyEarlyDecisions`); the name lock taken above keeps the start from slipping in between.
            if decision.tokenHash != nil { return try await refuse("the link token does not belong to this request") }
            try await writer.keepEarlyDecision(decision)
            // Not counted yet: the attempt recorded when it is applied says what it came to.
            try await writer.recordDecisionAttempt(decision, accepted: false, reason: "kept until the request's workflow starts")
            Counter(label: "greenlight_decisions_total", dimensions: [("channel", decision.channel.rawValue), ("result", "deferred")])
                .increment()
            logger.info("Decision kept until its request arrives", metadata: metadata)
            return
        }
        let (pending, token, earlier) = try await writer.decisionState(requestId: decision.requestId, tokenHash: decision.tokenHash)
        var approver = decision.decidedBy
        if decision.tokenHash != nil {
            guard let token, token.requestId == decision.requestId else {
                return try await refuse("the link token does not belong to this request")
            }
            guard token.usedAt == nil else { return try await refuse("the link token was already used") }
            // A link ends when its request does: for a request no longer pending, the refusal below says how it
            // ended, which is what the approver needs to know.
            guard token.expiresAt > decision.decidedAt || pending == nil else {
                return try await refuse("the link token had expired")
            }
            // The vote is the approver's the link was issued to, whatever name the event carries.
            approver = token.approver
        }
        if fourEyes, let requester = pending?.requester, EmailAddress.isValid(requester),
            requester.lowercased() == approver.lowercased()
        {
            return try await refuse("\(DecisionVerdict.fourEyes): \(approver) requested this approval and cannot decide it")
        }
        let vote = ApprovalVote(
            approver: approver, decision: decision.decision, channel: decision.channel, comment: decision.comment,
            decidedAt: decision.decidedAt, clientAddress: decision.clientAddress, userAgent: decision.userAgent,
            apiKey: decision.apiKey)

        // Under `all` or a quorum, an approver's decision is a vote, and only the vote that settles the policy
        // resumes the workflow. Under `any`, or from someone who is not an approver (an operator through the API,
        // another system on Kafka), the decision settles the request at once. A vote is kept only once it counts.
        var decided = decision.decision
        var votes: [ApprovalVote]?
        if let pending {
            let isApprover = pending.approvers.contains { $0.lowercased() == approver.lowercased() }
            if isApprover, earlier.contains(where: { $0.approver.lowercased() == approver.lowercased() }) {
                return try await refuse("\(approver) has already decided on this request")
            }
            votes = earlier + [vote]
            if isApprover, pending.policy != .any {
                switch PolicyTally(policy: pending.policy, approvers: pending.approvers.count, votes: earlier + [vote]) {
                case .approved: decided = .approve
                case .rejected: decided = .reject
                case .waiting(let approvals, let needed):
                    try await writer.insertVote(requestId: decision.requestId, vote)
                    if let hash = decision.tokenHash { try await writer.markLinkTokenUsed(hash: hash) }
                    let reason = "\(DecisionVerdict.voteRecorded): \(approvals) of \(needed) approvals (\(pending.policy))"
                    try await writer.recordDecisionAttempt(decision, accepted: true, reason: reason)
                    try await audit("VoteRecorded", approver: approver, reason: reason)
                    Counter(label: "greenlight_decisions_total", dimensions: [("channel", decision.channel.rawValue), ("result", "vote")])
                        .increment()
                    logger.info("Vote recorded", metadata: metadata.merging(["approvals": "\(approvals)", "needed": "\(needed)"]) { a, _ in a })
                    return
                }
            }
        }
        let payload = ApprovalDecisionPayload(
            decision: decided == .approve ? "approved" : "rejected", approver: approver,
            comment: decision.comment, channel: decision.channel, decidedAt: decision.decidedAt, votes: votes,
            apiKey: decision.apiKey)
        let result = try await engine.send(
            .success(String(decoding: try GreenlightJSON.encode(payload), as: UTF8.self)),
            toCallbackNamed: ApprovalWorkflow.callbackName, ofExecution: decision.requestId, on: connection)
        Counter(
            label: "greenlight_decisions_total",
            dimensions: [("channel", decision.channel.rawValue), ("result", Self.name(result))]
        ).increment()
        switch result {
        case .accepted:
            if pending != nil { try await writer.insertVote(requestId: decision.requestId, vote) }
            if let hash = decision.tokenHash { try await writer.markLinkTokenUsed(hash: hash) }
            try await writer.recordDecisionAttempt(decision, accepted: true, reason: nil)
            logger.info("Decision applied", metadata: metadata)
        case .deferred:
            // Not counted yet: the attempt recorded when it is applied says what it came to.
            try await writer.recordDecisionAttempt(decision, accepted: false, reason: "kept until the request's workflow starts")
        case .alreadyEnded(let callback):
            try await refuse("\(DecisionVerdict.alreadyDecided) (callback \(callback.status.rawValue))")
        case .notFound:
            try await refuse("no request with this id is waiting for a decision")
        }
    }

    /// Applies, in arrival order, the decisions that reached a request before its workflow started: each as if
    /// it had arrived just now, so the request's policy decides what it counts for.
    /// Each in a savepoint: one that fails is recorded as refused and the others, and the request, go on.
    func applyEarlyDecisions(requestId: String, trace: TraceContext?, on connection: PostgresConnection) async throws {
        for decision in try await ApprovalWriter(connection).takeEarlyDecisions(requestId: requestId, logger: logger) {
            do {
                try await connection.withSavepoint("early_decision") { try await apply(decision, trace: trace, on: connection) }
            } catch let error where !(error is CancellationError) && !PostgresError.isTransient(error) {
                logger.error(
                    "A decision kept for the request could not be applied; the request goes on without it",
                    metadata: ["requestId": "\(requestId)", "eventId": "\(decision.eventId)", "error": "\(error)"])
                try await ApprovalWriter(connection).recordDecisionAttempt(
                    decision, accepted: false, reason: "kept until the request's workflow starts, then failed: \(error)")
            }
        }
    }

    static func name(_ result: CallbackCommandResult) -> String {
        switch result {
        case .accepted: return "accepted"
        case .deferred: return "deferred"
        case .alreadyEnded: return "late"
        case .notFound: return "unknown"
        }
    }

    func apply(_ command: CallbackCommand, on connection: PostgresConnection) async throws {
        // The name, then the execution, as every other path takes them: a batch that holds a decision and a
        // command for the same request cannot deadlock with another transaction.
        try await engine.lock(executionNamed: command.requestId, on: connection)
        let completion: CallbackCompletion
        switch command.command {
        case .success:
            completion = .success(String(decoding: try GreenlightJSON.encode(command.result ?? .null), as: UTF8.self))
        case .failure:
            completion = .failure(
                DurableError(errorType: command.errorType ?? "Callback.Failed", errorMessage: command.errorMessage ?? ""))
        case .heartbeat:
            completion = .heartbeat
        }
        let result = try await engine.send(completion, toCallback: command.callbackId, on: connection)
        if command.command != .heartbeat {
            Counter(label: "greenlight_decisions_total", dimensions: [("channel", "api"), ("result", Self.name(result))]).increment()
        }
        logger.info(
            "Callback command \(command.command.rawValue): \(result)",
            metadata: ["requestId": "\(command.requestId)", "callbackId": "\(command.callbackId)"])
    }

    func apply(_ cancel: CancelRequested, trace: TraceContext? = nil, on connection: PostgresConnection) async throws {
        try await engine.lock(executionNamed: cancel.requestId, on: connection)
        let reason = cancel.reason ?? "cancelled"
        let by: [String: JSONValue] = cancel.apiKey.map { ["APIKey": .string($0)] } ?? [:]
        guard try await engine.stop(executionNamed: cancel.requestId, reason: reason, details: by, on: connection) else {
            logger.notice("Nothing to cancel", metadata: ["requestId": "\(cancel.requestId)"])
            return
        }
        let writer = ApprovalWriter(connection)
        let now = try await connection.databaseTime()
        // The workflow does not run again once stopped, so its outcome is written here.
        guard try await writer.completeRequest(
            requestId: cancel.requestId, status: .cancelled, decidedBy: nil, decidedAt: nil, channel: nil, comment: nil,
            errorType: DurableError.executionStopped, errorMessage: reason, completedAt: now),
            let executionId = try await writer.executionId(requestId: cancel.requestId)
        else { return }
        try await writer.expireLinkTokens(requestId: cancel.requestId, at: now)
        let outcome = ApprovalCompleted(
            requestId: cancel.requestId, executionId: executionId, status: .cancelled, decidedBy: nil, decidedAt: nil,
            channel: nil, comment: nil, errorType: DurableError.executionStopped, errorMessage: reason, apiKey: cancel.apiKey,
            completedAt: now)
        let completed = ApprovalLifecycle(
            requestId: cancel.requestId, executionId: executionId, stage: .completed, at: now, status: .cancelled)
        try await engine.enqueue(completed, trace: trace, on: connection)
        try await engine.enqueue(outcome, trace: trace, on: connection)
    }
}
