import ApprovalStore
import DurableExecution
import Foundation
import GreenlightModels
import Logging
import Metrics
import Postgres

/// Applies one consumed event inside the caller's transaction, at most once: a request starts its workflow, a
/// callback command goes to the callback it names, a delegation is kept in its table, and every other event about a request is a signal to that
/// request's workflow (`ApprovalSignal`), which decides what it means. Nothing here knows an approval's rules.
struct EventHandler: Sendable {
    let engine: DurableEngine
    let workflow: ApprovalWorkflow
    let logger: Logger

    /// False when the event's inbox row shows it was handled before (a redelivery): nothing happens then. With
    /// `recorded`, the caller has written the inbox row already (a batch writes its events' rows together).
    func handle(
        _ event: InboundEvent, topic: String, trace: TraceContext? = nil, recorded: Bool = false, on connection: PostgresConnection
    ) async throws -> Bool {
        if !recorded {
            guard try await engine.recordInbox(eventId: event.identity.eventId, topic: topic, on: connection) else {
                return false
            }
        }
        switch event {
        case .approvalRequested(let request):
            switch try await engine.start(workflow, name: request.requestId, input: request, trace: trace, on: connection) {
            case .started(let executionId):
                logger.info(
                    "Approval workflow started",
                    metadata: [
                        "requestId": "\(request.requestId)", "executionId": "\(executionId)",
                        "traceId": "\(trace?.traceId ?? "")",
                    ])
            case .alreadyExists:
                logger.notice("Request id already has a workflow; ignoring the duplicate", metadata: ["requestId": "\(request.requestId)"])
            }
        case .callbackCommand(let command):
            try await apply(command, on: connection)
        case .delegationSet(let set):
            // Not a request's: the orchestrator keeps the table, and each workflow reads it when a request reaches an
            // approver (in a step).
            try await ApprovalWriter(connection).applyDelegation(set.delegation, apiKey: set.apiKey)
            logger.info(
                "Delegation set",
                metadata: [
                    "approver": "\(set.delegation.approver)", "delegate": "\(set.delegation.delegate)",
                    "mode": "\(set.delegation.mode.rawValue)", "setBy": "\(set.delegation.setBy)",
                ])
        case .delegationCleared(let cleared):
            let ended = try await ApprovalWriter(connection).clearDelegation(approver: cleared.approver, at: cleared.clearedAt)
            logger.info(
                ended ? "Delegation cleared" : "No delegation to clear",
                metadata: ["approver": "\(cleared.approver)", "clearedBy": "\(cleared.clearedBy)"])
        default:
            guard let signal = ApprovalSignal(event) else { return true }
            let requestId = event.identity.requestId
            let result = try await engine.signal(signal, to: ApprovalWorkflow.self, executionNamed: requestId, on: connection)
            if result == .buffered, case .decision(let decision) = signal {
                // Only the decisions topic can get ahead of a request (links and the API need it to exist). The
                // attempt recorded when the workflow takes it says what it came to.
                ApprovalWriter(connection).queueDecisionAttempt(
                    decision, accepted: false, reason: "kept until the request's workflow starts")
                workflow.counters.decision(channel: decision.channel.rawValue, "deferred", on: connection)
                logger.info("Decision kept until its request arrives", metadata: ["requestId": "\(requestId)"])
            }
        }
        return true
    }

    /// A success, failure or heartbeat for a callback, by id, from the callback API.
    func apply(_ command: CallbackCommand, on connection: PostgresConnection) async throws {
        // The name's lock first, as a signal and a start take it: a batch holding a command and a decision for the same
        // request cannot deadlock with another transaction. (`send` then locks the execution, by id.)
        try await engine.lock(executionNamed: command.requestId, on: connection)
        let completion: CallbackCompletion
        switch command.command {
        case .success:
            // A decision through the approval's callback settles the request at once, so the request's rules are
            // checked before it does: the callback API checks them too, but anyone may publish on the decisions topic.
            if let result = command.result,
                let decision = try? GreenlightJSON.decode(ApprovalDecisionPayload.self, from: GreenlightJSON.encode(result)),
                let rules = try await ApprovalWriter(connection).decisionRules(requestId: command.requestId)
            {
                let broken = rules.check(decision.decision, comment: decision.comment, response: decision.response)
                if !broken.isEmpty {
                    // Counted where the refusal is final (`count(_:)`): this transaction rolls back.
                    throw EventRefused(
                        reason: "\(DecisionVerdict.rulesBroken): " + broken.map { "\($0.field) \($0.message)" }.joined(separator: "; "))
                }
            }
            completion = .success(String(decoding: try GreenlightJSON.encode(command.result ?? .null), as: UTF8.self))
        case .failure:
            completion = .failure(
                DurableError(errorType: command.errorType ?? "Callback.Failed", errorMessage: command.errorMessage ?? ""))
        case .heartbeat:
            completion = .heartbeat
        }
        let result = try await engine.send(completion, toCallback: command.callbackId, on: connection)
        if command.command != .heartbeat {
            let name: String
            switch result {
            case .accepted: name = "accepted"
            case .alreadyEnded: name = "late"
            case .notFound: name = "unknown"
            }
            workflow.counters.decision(channel: "api", name, on: connection)
        }
        logger.info(
            "Callback command \(command.command.rawValue): \(result)",
            metadata: ["requestId": "\(command.requestId)", "callbackId": "\(command.callbackId)"])
    }
}

extension EventHandler {
    /// Counts a refused callback decision (`greenlight_decisions_total`) once, after it is dead-lettered: the
    /// transactions that refused it rolled back, and a dead letter that could not be published is tried again.
    func count(_: EventRefused) {
        workflow.counters.counter("greenlight_decisions_total", [("channel", "api"), ("result", "refused")]).increment()
    }
}

/// An event the orchestrator will not apply however often it tries (a callback decision that breaks its request's
/// rules): dead-lettered at once, with why, rather than retried.
struct EventRefused: Error, CustomStringConvertible {
    var reason: String
    var description: String { "refused: \(reason)" }
}
