import ApprovalStore
import DurableExecution
import Foundation
import GreenlightModels
import Logging
import Metrics
import Postgres

/// The approval, from request to outcome, written against the durable engine. It records the request, gives each
/// approver a link and notifies them, and then takes what happens to the request in the order it happens —
/// decisions, a cancellation, requests to resend or reassign, receipts (the engine's signals), reminders and the
/// escalation (its own times), the deadline or a command from the callback API (its callback) — until the request is
/// settled; then it writes the one outcome. Every effect is a checkpointed step: a replay after a crash repeats none
/// of them and reaches the same result. The notifiers' reports decide nothing: they are observations, recorded as they
/// arrive in the transaction of the event that carried them (`signalObserved`). Event handlers only decode, authorise
/// and signal.
public struct ApprovalWorkflow: Workflow {
    public typealias Signal = ApprovalSignal
    public static let name = "approval"
    /// The callback an approval waits on: its timeout is the deadline, and programs may end it through the
    /// callback API (a success carrying an `ApprovalDecisionPayload`, or a failure).
    public static let callbackName = "wait-for-approval"

    /// What new link tokens are derived with (`GREENLIGHT_LINK_SECRET`); each token keeps its secret's id.
    let linkSecret: LinkSecret
    /// Four eyes (`GREENLIGHT_FOUR_EYES`): the person who requested an approval cannot decide it.
    let fourEyes: Bool
    /// Where outcome webhooks go when a request names no `callbackUrl`, and for how long they are tried.
    let callbacks: CallbackSettings
    /// Whether each stage is published on `approvals.lifecycle` (`GREENLIGHT_LIFECYCLE_EVENTS`). Lifecycle webhooks,
    /// which a request asks for itself, are sent either way.
    let lifecycleEvents: Bool
    let logger: Logger
    /// The approval's counters (`greenlight_decisions_total`, `greenlight_requests_completed_total`, the reports').
    let counters: Counters

    public init(
        linkSecret: LinkSecret, fourEyes: Bool = true, callbacks: CallbackSettings = CallbackSettings(),
        lifecycleEvents: Bool = true, logger: Logger = Logger(label: "greenlight.approval"),
        metrics: (any MetricsFactory)? = nil
    ) {
        self.linkSecret = linkSecret
        self.fourEyes = fourEyes
        self.callbacks = callbacks
        self.lifecycleEvents = lifecycleEvents
        self.logger = logger
        counters = Counters(factory: metrics)
    }

    /// Counts what an approval's transaction did once it commits (`PostgresConnection.afterCommit`), so each thing is
    /// counted once however many times it was attempted: a batch of events or timers that fails and is applied again
    /// one at a time, a step tried again, an event retried after a deadlock. (A transaction whose COMMIT's answer is
    /// lost with the connection is not counted, though the server may have committed it.)
    /// `factory` nil: the one `MetricsSystem` has when a count is made (the services bootstrap it at start).
    struct Counters: Sendable {
        let factory: (any MetricsFactory)?

        func count(_ label: String, _ dimensions: [(String, String)], on connection: PostgresConnection) {
            let counters = self
            connection.afterCommit { counters.counter(label, dimensions).increment() }
        }

        func counter(_ label: String, _ dimensions: [(String, String)]) -> Counter {
            factory.map { Counter(label: label, dimensions: dimensions, factory: $0) } ?? Counter(label: label, dimensions: dimensions)
        }

        /// `greenlight_decisions_total`, by the channel a decision came through and what became of it.
        func decision(channel: String, _ result: String, on connection: PostgresConnection) {
            count("greenlight_decisions_total", [("channel", channel), ("result", result)], on: connection)
        }
    }

    public func run(context: DurableContext, input request: ApprovalRequested) async throws -> ApprovalCompleted {
        let startedAt = try await context.now()
        let expiresAt = startedAt.addingTimeInterval(TimeInterval(request.timeoutSeconds))
        let callback = try await context.createCallback(
            Self.callbackName, timeout: .seconds(request.timeoutSeconds),
            heartbeatTimeout: request.heartbeatTimeoutSeconds.map { .seconds($0) })
        let messages = Messages(
            request: request, executionId: context.executionId, expiresAt: expiresAt, callbacks: callbacks,
            lifecycleEvents: lifecycleEvents, counters: counters)

        _ = try await context.step("record-request") { step in
            let recorded = try await ApprovalWriter(step.connection).insertRequest(
                request, executionId: context.executionId, callbackId: callback.callbackId, expiresAt: expiresAt,
                trace: context.trace)
            try await messages.lifecycle(.requested, step, at: startedAt)
            return recorded
        }
        /// Gives each approver a link (only its hash and nonce are stored) and queues their notification; where an
        /// approver's delegation applies (read here, in the step, by the database's clock: a replay never looks again),
        /// their delegate gets a link of their own in the approver's place as well (`also`) or instead, and the
        /// approver is told. Returns who got a link.
        func invite(_ approvers: [String], kind: NotificationKind, step: StepContext) async throws -> [String] {
            let writer = ApprovalWriter(step.connection)
            let delegations = try await writer.activeDelegations(of: approvers, at: step.now)
            var invited: [String] = []
            func link(_ recipient: String, onBehalfOf: String?) async throws {
                let nonce = LinkToken.newNonce()
                writer.queueLinkToken(
                    hash: LinkToken.hash(LinkToken.derive(secret: linkSecret, nonce: nonce)), nonce: nonce, linkKey: linkSecret.id,
                    requestId: request.requestId, callbackId: callback.callbackId, approver: recipient, expiresAt: expiresAt,
                    onBehalfOf: onBehalfOf)
                try await messages.notify(recipient, nonce: nonce, linkKey: linkSecret.id, kind: kind, onBehalfOf: onBehalfOf, step)
                invited.append(recipient)
            }
            for approver in approvers {
                let delegation = delegations[approver.lowercased()].flatMap { standsIn($0, for: approver, requester: request.requester, step) }
                if delegation?.mode != .instead { try await link(approver, onBehalfOf: nil) }
                guard let delegation else { continue }
                try await link(delegation.delegate, onBehalfOf: approver)
                writer.queueStandIn(
                    StandIn(
                        requestId: request.requestId, approver: approver, delegate: delegation.delegate, mode: delegation.mode,
                        since: step.now))
                var details: [String: JSONValue] = [
                    "Approver": .string(approver), "Delegate": .string(delegation.delegate),
                    "Mode": .string(delegation.mode.rawValue), "SetBy": .string(delegation.setBy),
                ]
                if let until = delegation.until { details["Until"] = .string(Timestamp.format(until)) }
                step.record("DelegateInvited", details)
                try await messages.tellDelegated(approver, to: delegation, step)
            }
            return invited
        }
        _ = try await context.step("notify-approvers") { step in
            let invited = try await invite(request.approvers, kind: .request, step: step)
            try await messages.lifecycle(.notified, step, approvers: invited)
            return request.approvers.count
        }

        // Reminders and the escalation, in time order, each only if the request is still undecided by then.
        var marks: [(at: Date, action: Mark)] = []
        if let remind = request.remindAfterSeconds { marks.append((startedAt.addingTimeInterval(TimeInterval(remind)), .remind)) }
        if let escalate = request.escalateAfterSeconds, let escalateTo = request.escalateTo, !escalateTo.isEmpty {
            marks.append((startedAt.addingTimeInterval(TimeInterval(escalate)), .escalate))
        }
        marks.sort { $0.at < $1.at }

        /// A step beside the approval's course (a reminder, a resend, a receipt): one that fails for good (content the
        /// database refuses, say) is in the history as `StepFailed` and the approval goes on.
        func besideStep<T: Codable & Sendable>(_ name: String, _ body: (StepContext) async throws -> T) async throws {
            do {
                _ = try await context.step(name, body)
            } catch let failure as DurableError where failure.errorType != DurableError.nonDeterministic {
                logger.error(
                    "A step of the approval failed; the approval goes on without it",
                    metadata: ["requestId": "\(request.requestId)", "step": "\(name)", "error": "\(failure)"])
            }
        }

        var verdict: Verdict?
        while verdict == nil {
            switch try await context.receive(ApprovalSignal.self, orEndOf: callback, until: marks.first?.at, name: "next") {
            case .timeReached:
                guard !marks.isEmpty else {
                    throw DurableError(errorType: "Approval.NoTimeToReach", errorMessage: "a receive without a deadline reported one")
                }
                switch marks.removeFirst().action {
                case .remind:
                    try await besideStep("remind-approvers") { step in
                        let undecided = try await ApprovalWriter(step.connection).undecidedApprovers(requestId: request.requestId)
                        for (approver, nonce, linkKey, onBehalfOf) in undecided {
                            try await messages.notify(
                                approver, nonce: nonce, linkKey: linkKey, kind: .reminder, onBehalfOf: onBehalfOf, step)
                        }
                        try await messages.lifecycle(.reminded, step, approvers: undecided.map(\.approver))
                        return undecided.map(\.approver)
                    }
                case .escalate:
                    try await besideStep("escalate") { step in
                        let added = request.escalateTo ?? []
                        ApprovalWriter(step.connection).queueApprovers(added, requestId: request.requestId)
                        // The chain is the request's own (`escalateTo`); delegation applies to those it adds.
                        _ = try await invite(added, kind: .escalation, step: step)
                        try await messages.lifecycle(.escalated, step, approvers: added)
                        return added
                    }
                }

            case .callbackEnded:
                verdict = try await Verdict.ending(callback, onTimeout: request.onTimeout)

            case .signal(.decision(let decision)):
                let settled: ApprovalDecisionPayload?
                do {
                    settled = try await context.step("decide") { step in try await decide(decision, rules: request.content, step) }
                } catch let failure as DurableError where failure.errorType != DurableError.nonDeterministic {
                    // A decision that cannot be applied (content the database refuses, say) is refused, with why, and
                    // the request goes on; recording that may fail for the same reason, and changes nothing then.
                    settled = nil
                    do {
                        _ = try await context.step("refuse-decision") { step in
                            try await refuse(
                                decision, approver: decision.decidedBy, "the decision could not be applied: \(failure.errorMessage)", step)
                        }
                    } catch is DurableError {}
                }
                if let settled {
                    try await context.end(callback, succeeding: settled)
                    verdict = Verdict(decision: settled)
                }

            case .signal(.cancel(let cancel)):
                let stopped = DurableError(errorType: DurableError.executionStopped, errorMessage: cancel.reason ?? "cancelled")
                _ = try await context.step("cancel") { step in
                    var details: [String: JSONValue] = ["Reason": .string(stopped.errorMessage)]
                    if let key = cancel.apiKey { details["APIKey"] = .string(key) }
                    step.record("CancelRequested", details)
                    return true
                }
                try await context.end(callback, failing: stopped)
                verdict = Verdict(status: .cancelled, error: stopped, apiKey: cancel.apiKey)

            case .signal(.resend(let resend)):
                try await besideStep("resend") { step in
                    let targets = try await ApprovalWriter(step.connection).undecidedApprovers(requestId: request.requestId)
                        .filter { target in resend.approver.map { $0.lowercased() == target.approver.lowercased() } ?? true }
                    for (approver, nonce, linkKey, onBehalfOf) in targets {
                        try await messages.notify(approver, nonce: nonce, linkKey: linkKey, kind: .request, onBehalfOf: onBehalfOf, step)
                    }
                    let approvers = targets.map(\.approver)
                    var details: [String: JSONValue] = ["Approvers": .array(approvers.map(JSONValue.string))]
                    if let key = resend.apiKey { details["APIKey"] = .string(key) }
                    step.record("NotificationsResent", details)
                    if !approvers.isEmpty { try await messages.lifecycle(.notified, step, approvers: approvers) }
                    return approvers
                }

            // Reports on notifications and webhooks are observations (`isObservation`), recorded as they arrive. A
            // running approval takes one here only when it replays one it received before they were, or when one was
            // kept until its start.
            case .signal(.delivery(let report)):
                try await besideStep("record-delivery") { step in
                    try await signalObserved(.delivery(report), step: step)
                    return report.result
                }

            case .signal(.receipt(let ask)):
                try await besideStep("send-receipt") { step in try await sendReceipt(ask, request: request, step) }

            case .signal(.webhook(let report)):
                try await besideStep("record-webhook") { step in
                    try await signalObserved(.webhook(report), step: step)
                    return report.result
                }

            case .signal(.reassign(let move)):
                try await besideStep("reassign") { step in
                    guard try await reassign(move, request: request, step) else { return [String]() }
                    let invited = try await invite([move.to], kind: .request, step: step)
                    try await messages.lifecycle(.notified, step, approvers: invited)
                    return invited
                }
            }
        }
        let outcome = verdict!

        return try await context.step("finalize") { step in
            let completedAt = step.now
            var result = ApprovalCompleted(
                requestId: request.requestId, executionId: context.executionId, status: outcome.status,
                decidedBy: outcome.decidedBy, decidedAt: outcome.decidedAt, channel: outcome.channel,
                comment: outcome.comment, errorType: outcome.error?.errorType, errorMessage: outcome.error?.errorMessage,
                votes: outcome.votes, apiKey: outcome.apiKey, completedAt: completedAt)
            result.response = outcome.response
            result.onBehalfOf = outcome.onBehalfOf
            let writer = ApprovalWriter(step.connection)
            writer.queueCompletion(
                requestId: request.requestId, status: outcome.status, decidedBy: outcome.decidedBy,
                decidedAt: outcome.decidedAt, channel: outcome.channel, comment: outcome.comment, response: outcome.response,
                errorType: outcome.error?.errorType, errorMessage: outcome.error?.errorMessage, completedAt: completedAt,
                onBehalfOf: outcome.onBehalfOf)
            writer.queueLinkTokenExpiry(requestId: request.requestId, at: completedAt)
            if let decidedBy = outcome.decidedBy {
                try await messages.lifecycle(
                    .decided, step, at: outcome.decidedAt ?? completedAt,
                    decision: (outcome.status == .approved ? .approve : .reject, decidedBy, outcome.channel))
            } else if outcome.error?.isTimeout == true {
                try await messages.lifecycle(.expired, step, at: completedAt)
            }
            try await messages.lifecycle(.completed, step, at: completedAt, status: outcome.status)
            return try await messages.outcome(result, step)
        }
    }

    /// A notifier's report, on a notification or an outcome webhook, decides nothing: it is recorded as it arrives,
    /// without replaying the approval for it.
    public func isObservation(_ signal: ApprovalSignal) -> Bool {
        switch signal {
        case .delivery, .webhook: true
        case .decision, .cancel, .resend, .receipt, .reassign: false
        }
    }

    public func signalObserved(_ signal: ApprovalSignal, step: StepContext) async throws {
        switch signal {
        case .delivery(let report): try await record(report, step)
        case .webhook(let report): record(report, step)
        case .decision, .cancel, .resend, .receipt, .reassign: break
        }
    }

    /// After the request ended: a decision is refused as too late, a delivery report (of a notification, or of an
    /// outcome webhook, which mostly come after the end) is still recorded and a receipt still sent; a cancellation or
    /// a resend has nothing left to act on.
    public func signalAfterEnd(_ signal: ApprovalSignal, status: ExecutionStatus, input request: ApprovalRequested, step: StepContext)
        async throws
    {
        switch signal {
        case .decision(let decision):
            let ended = try await ApprovalWriter(step.connection).status(requestId: decision.requestId)
            _ = try await refuse(
                decision, approver: decision.decidedBy, "\(DecisionVerdict.alreadyDecided) (\(ended?.rawValue ?? "ended"))",
                result: "late", step)
        case .cancel(let cancel):
            logger.notice("Nothing to cancel: the request has ended", metadata: ["requestId": "\(cancel.requestId)"])
        case .resend(let resend):
            logger.notice("Nothing to resend: the request has ended", metadata: ["requestId": "\(resend.requestId)"])
        case .reassign(let move):
            logger.notice("Nothing to reassign: the request has ended", metadata: ["requestId": "\(move.requestId)"])
        case .delivery, .webhook:
            try await signalObserved(signal, step: step)
        case .receipt(let ask):
            _ = try await sendReceipt(ask, request: request, step)
        }
    }

    /// An approval whose workflow failed (an error it does not handle, or code that no longer replays its history)
    /// still ends: the request is `failed`, its links end, and its outcome is published — once.
    public func executionFailed(_ error: DurableError, input request: ApprovalRequested, step: StepContext) async throws {
        let writer = ApprovalWriter(step.connection)
        let known = try await writer.status(requestId: request.requestId)
        guard known == nil || known == .pending else { return }
        if known == .pending {
            writer.queueCompletion(
                requestId: request.requestId, status: .failed, decidedBy: nil, decidedAt: nil, channel: nil, comment: nil,
                errorType: error.errorType, errorMessage: error.errorMessage, completedAt: step.now)
            writer.queueLinkTokenExpiry(requestId: request.requestId, at: step.now)
        }
        let messages = Messages(
            request: request, executionId: step.executionId, expiresAt: step.now, callbacks: callbacks,
            lifecycleEvents: lifecycleEvents, counters: counters)
        try await messages.lifecycle(.completed, step, status: .failed)
        _ = try await messages.outcome(
            ApprovalCompleted(
                requestId: request.requestId, executionId: step.executionId, status: .failed, decidedBy: nil, decidedAt: nil,
                channel: nil, comment: nil, errorType: error.errorType, errorMessage: error.errorMessage, completedAt: step.now),
            step)
        logger.error("An approval's workflow failed; its outcome is failed", metadata: ["requestId": "\(request.requestId)", "error": "\(error)"])
    }

    enum Mark { case remind, escalate }

    // MARK: - Decisions

    /// Applies one decision to the pending request. Returns what settles the request, or nil: the decision was
    /// refused (recorded, with why) or is a vote that does not settle it yet (recorded, with the tally).
    ///
    /// Under `all` or a quorum, an approver's decision is a vote, and only the vote that settles the policy settles
    /// the request. Under `any`, or from someone who is not an approver (an operator through the API, another system
    /// on Kafka), the decision settles the request at once.
    func decide(_ decision: DecisionSubmitted, rules: RequestContent, _ step: StepContext) async throws -> ApprovalDecisionPayload? {
        let writer = ApprovalWriter(step.connection)
        let (pending, token, earlier) = try await writer.decisionState(requestId: decision.requestId, tokenHash: decision.tokenHash)
        var approver = decision.decidedBy
        /// The approver whose place a delegate decides in.
        var onBehalfOf: String?
        if decision.tokenHash != nil {
            guard let token, token.requestId == decision.requestId else {
                return try await refuse(decision, approver: approver, "the link token does not belong to this request", step)
            }
            guard token.usedAt == nil else {
                return try await refuse(decision, approver: approver, "the link token was already used", step)
            }
            guard token.expiresAt > decision.decidedAt else {
                return try await refuse(decision, approver: approver, "the link token had expired", step)
            }
            // The vote is the approver's the link was issued to, whatever name the event carries (and a delegate's link
            // is for the place of the approver it names).
            approver = token.approver
            onBehalfOf = token.onBehalfOf
        }
        guard let pending else {
            return try await refuse(decision, approver: approver, "no request with this id is waiting for a decision", step)
        }
        if fourEyes, let requester = pending.requester, EmailAddress.isValid(requester),
            requester.lowercased() == approver.lowercased()
        {
            return try await refuse(
                decision, approver: approver, "\(DecisionVerdict.fourEyes): \(approver) requested this approval and cannot decide it", step)
        }
        func isApprover(_ person: String) -> Bool { pending.approvers.contains { $0.lowercased() == person.lowercased() } }
        if decision.tokenHash != nil, !isApprover(onBehalfOf ?? approver) {
            // The link's approver was reassigned away: their link (and their delegates') no longer counts.
            return try await refuse(
                decision, approver: approver, "\(onBehalfOf ?? approver) is no longer an approver of this request (reassigned)", step)
        }
        if decision.tokenHash == nil, !isApprover(approver) {
            // Someone standing in for an approver (a delegation) decides in that approver's place, the first of theirs
            // with no vote yet.
            let places = try await writer.standIns(requestId: decision.requestId)
                .filter { $0.delegate.lowercased() == approver.lowercased() && isApprover($0.approver) }.map(\.approver)
            onBehalfOf = places.first { place in !earlier.contains { Self.place(of: $0).lowercased() == place.lowercased() } }
                ?? places.first
        }
        let place = onBehalfOf ?? approver
        let counts = isApprover(place)
        // A signed-in approver (inbox, Slack) speaks only for themselves: someone who is not an approver of the request
        // (nor standing in for one) is refused rather than settling it the way an operator's API decision does.
        if decision.channel.isApproversOwn, decision.tokenHash == nil, !counts {
            return try await refuse(decision, approver: approver, "\(approver) is not an approver of this request", step)
        }
        if counts, earlier.contains(where: { $0.approver.lowercased() == approver.lowercased() }) {
            return try await refuse(decision, approver: approver, "\(approver) has already decided on this request", step)
        }
        if counts, let taken = earlier.first(where: { Self.place(of: $0).lowercased() == place.lowercased() }) {
            return try await refuse(
                decision, approver: approver, "\(place) has already decided on this request (\(taken.approver) in their place)",
                onBehalfOf: onBehalfOf, step)
        }
        // The request's rules hold however the decision came: the page and the APIs check them first, and a decision
        // published on Kafka is checked here.
        let broken = rules.check(decision.decision, comment: decision.comment, response: decision.response)
        if !broken.isEmpty {
            let reasons = broken.map { "\($0.field) \($0.message)" }.joined(separator: "; ")
            return try await refuse(decision, approver: approver, "\(DecisionVerdict.rulesBroken): \(reasons)", step)
        }
        let vote = ApprovalVote(
            approver: approver, decision: decision.decision, channel: decision.channel, comment: decision.comment,
            decidedAt: decision.decidedAt, clientAddress: decision.clientAddress, userAgent: decision.userAgent,
            apiKey: decision.apiKey, response: decision.response, onBehalfOf: onBehalfOf)
        var decided = decision.decision
        if counts, pending.policy != .any {
            switch PolicyTally(policy: pending.policy, approvers: pending.approvers.count, votes: earlier + [vote]) {
            case .approved: decided = .approve
            case .rejected: decided = .reject
            case .waiting(let approvals, let needed):
                let reason = "\(DecisionVerdict.voteRecorded): \(approvals) of \(needed) approvals (\(pending.policy))"
                try await accept(decision, vote, reason: reason, result: "vote", step)
                step.record("VoteRecorded", audit(decision, approver: approver, reason: reason, onBehalfOf: onBehalfOf))
                return nil
            }
        }
        try await accept(decision, vote, reason: nil, result: "accepted", step)
        if let onBehalfOf {
            step.record(
                "DecidedOnBehalf", audit(decision, approver: approver, reason: "\(approver) on behalf of \(onBehalfOf)", onBehalfOf: onBehalfOf))
        }
        return ApprovalDecisionPayload(
            decision: decided, approver: approver, comment: decision.comment, channel: decision.channel,
            decidedAt: decision.decidedAt, votes: earlier + [vote], apiKey: decision.apiKey, response: decision.response,
            onBehalfOf: onBehalfOf)
    }

    /// Whose place a vote fills: the approver's it was cast on behalf of, or the voter's own.
    static func place(of vote: ApprovalVote) -> String { vote.onBehalfOf ?? vote.approver }

    /// Keeps a decision that counts: the vote, the link it used, and the attempt (what the click page reads).
    private func accept(_ decision: DecisionSubmitted, _ vote: ApprovalVote, reason: String?, result: String, _ step: StepContext)
        async throws
    {
        let writer = ApprovalWriter(step.connection)
        writer.queueVote(requestId: decision.requestId, vote)
        if let hash = decision.tokenHash { writer.queueLinkTokenUse(hash: hash) }
        writer.queueDecisionAttempt(decision, accepted: true, reason: reason)
        counters.decision(channel: decision.channel.rawValue, result, on: step.connection)
        logger.info(
            result == "vote" ? "Vote recorded" : "Decision applied",
            metadata: ["requestId": "\(decision.requestId)", "eventId": "\(decision.eventId)", "reason": "\(reason ?? "")"])
    }

    /// Records a decision that does not count, and why, in the attempts (what the click page reads) and the history.
    private func refuse(
        _ decision: DecisionSubmitted, approver: String, _ reason: String, result: String = "refused", onBehalfOf: String? = nil,
        _ step: StepContext
    ) async throws -> ApprovalDecisionPayload? {
        logger.notice(
            "Decision not applied: \(reason)", metadata: ["requestId": "\(decision.requestId)", "eventId": "\(decision.eventId)"])
        ApprovalWriter(step.connection).queueDecisionAttempt(decision, accepted: false, reason: reason)
        step.record("DecisionRefused", audit(decision, approver: approver, reason: reason, onBehalfOf: onBehalfOf))
        counters.decision(channel: decision.channel.rawValue, result, on: step.connection)
        return nil
    }

    /// Who decided what, how, through which API key, and why: a history event's details.
    private func audit(_ decision: DecisionSubmitted, approver: String, reason: String, onBehalfOf: String? = nil)
        -> [String: JSONValue]
    {
        var details: [String: JSONValue] = [
            "Approver": .string(approver), "Decision": .string(decision.decision.rawValue),
            "Channel": .string(decision.channel.rawValue), "Reason": .string(reason),
        ]
        if let key = decision.apiKey { details["APIKey"] = .string(key) }
        if let onBehalfOf { details["OnBehalfOf"] = .string(onBehalfOf) }
        return details
    }

    // MARK: - Deliveries and receipts

    /// Keeps the latest report per notification (the status shows it) and writes each to the history, so that a
    /// failed notification is never silent.
    private func record(_ report: NotificationDelivery, _ step: StepContext) async throws {
        ApprovalWriter(step.connection).queueDelivery(report)
        var details: [String: JSONValue] = [
            "Approver": .string(report.approver), "Kind": .string(report.kind.rawValue),
            "Attempt": .number(Double(report.attempt)),
        ]
        if let error = report.error { details["Error"] = .string(error) }
        recordReport("Notification", report.result, details, step)
        if report.result == .failed {
            logger.error(
                "An approver could not be notified",
                metadata: ["requestId": "\(report.requestId)", "approver": "\(report.approver)", "error": "\(report.error ?? "")"])
        }
    }

    /// Emails an approver what became of their decision, whose page could not say in time (the decision came first:
    /// same key, same partition, so its verdict is recorded). Only for email requests (a webhook goes to a shared
    /// destination, not to the approver), and only to the approver a link of the request was issued to who made that
    /// decision by link: anyone may publish on the decisions topic, and a receipt must not be a way to mail a
    /// request's details to an address of one's choosing. True when one was sent.
    private func sendReceipt(_ ask: DecisionReceiptRequested, request: ApprovalRequested, _ step: StepContext) async throws -> Bool {
        let metadata: Logger.Metadata = ["requestId": "\(ask.requestId)", "decisionEventId": "\(ask.decisionEventId)"]
        guard (request.notify ?? .email) == .email else {
            logger.notice("No receipt: the request is not notified by email", metadata: metadata)
            return false
        }
        let writer = ApprovalWriter(step.connection)
        guard try await writer.isLinkDecision(requestId: ask.requestId, eventId: ask.decisionEventId, by: ask.approver) else {
            logger.notice("No receipt: no link decision by that approver with that event id", metadata: metadata)
            return false
        }
        let verdict = try await writer.verdict(requestId: ask.requestId, eventId: ask.decisionEventId)
        // A receipt has no links (its nonce derives nothing anyone holds), and is sent even after the request's
        // deadline: the notifier sends nothing past a message's expiry, so it gets a day of its own.
        let receipt = NotificationRequested(
            requestId: ask.requestId, executionId: step.executionId, approver: ask.approver, tokenNonce: UUID(),
            kind: .receipt, amount: request.amount, currency: request.currency, description: request.description,
            requester: request.requester, submittedAt: request.submittedAt, expiresAt: step.now.addingTimeInterval(86_400),
            receipt: DecisionVerdict.sentence(verdict, decision: ask.decision, requestId: ask.requestId)
        ).showing(request)
        try await step.emit(topic: Topic.notifications.rawValue, key: ask.requestId, event: receipt)
        return true
    }

    // MARK: - Messages

    /// The messages about one request: every notification to an approver, every lifecycle stage and the outcome, and
    /// their webhooks (`webhook`), built here.
    struct Messages: Sendable {
        let request: ApprovalRequested
        let executionId: UUID
        let expiresAt: Date
        let callbacks: CallbackSettings
        let lifecycleEvents: Bool
        let counters: Counters

        func notify(
            _ approver: String, nonce: UUID, linkKey: String?, kind: NotificationKind, onBehalfOf: String? = nil,
            _ step: StepContext
        ) async throws {
            var message = NotificationRequested(
                requestId: request.requestId, executionId: executionId, approver: approver, tokenNonce: nonce,
                linkKey: linkKey, kind: kind, channel: request.notify, amount: request.amount, currency: request.currency,
                description: request.description, requester: request.requester, submittedAt: request.submittedAt,
                expiresAt: expiresAt, onTimeout: request.onTimeout == .approve ? .approve : nil
            ).showing(request)
            message.onBehalfOf = onBehalfOf
            try await step.emit(topic: Topic.notifications.rawValue, key: request.requestId, event: message)
        }

        /// Tells an approver (by email; a webhook goes to a shared destination, not to them) that the request went to
        /// their delegate. No links: its nonce derives nothing anyone holds.
        func tellDelegated(_ approver: String, to delegation: Delegation, _ step: StepContext) async throws {
            guard (request.notify ?? .email) == .email else { return }
            var notice = NotificationRequested(
                requestId: request.requestId, executionId: executionId, approver: approver, tokenNonce: UUID(), kind: .delegated,
                amount: request.amount, currency: request.currency, description: request.description,
                requester: request.requester, submittedAt: request.submittedAt, expiresAt: expiresAt
            ).showing(request)
            notice.delegate = delegation.delegate
            try await step.emit(topic: Topic.notifications.rawValue, key: request.requestId, event: notice)
        }

        /// Publishes the outcome through the outbox, with what the request asked to have echoed (its title, metadata
        /// and action digest), and counts it by status (`greenlight_requests_completed_total`, once the transaction
        /// that writes it commits).
        func outcome(_ result: ApprovalCompleted, _ step: StepContext) async throws -> ApprovalCompleted {
            var result = result
            result.title = request.title
            result.metadata = request.metadata
            result.actionDigest = request.action?.digest
            try await step.emit(topic: Topic.outcomes.rawValue, key: request.requestId, event: result)
            try await webhook(result, step)
            counters.count("greenlight_requests_completed_total", [("status", result.status.rawValue)], on: step.connection)
            return result
        }

        /// Publishes a lifecycle stage through the outbox (unless lifecycle events are off), with the step that reached
        /// it, and sends it to the request's webhook when the request asked for its stages.
        func lifecycle(
            _ stage: ApprovalLifecycle.Stage, _ step: StepContext, at: Date? = nil, approvers: [String]? = nil,
            status: ApprovalStatus? = nil, decision: (Decision, by: String, channel: DecisionChannel?)? = nil
        ) async throws {
            let event = ApprovalLifecycle(
                requestId: request.requestId, executionId: executionId, stage: stage, at: at ?? step.now, approvers: approvers,
                decision: decision?.0, decidedBy: decision?.by, channel: decision?.channel, status: status,
                metadata: request.metadata)
            if lifecycleEvents { try await step.emit(topic: Topic.lifecycle.rawValue, key: request.requestId, event: event) }
            try await webhook(event, step)
        }
    }

    // MARK: - The outcome

    /// How the request was settled.
    struct Verdict: Codable, Sendable {
        var status: ApprovalStatus
        var decidedBy: String?
        var decidedAt: Date?
        var channel: DecisionChannel?
        var comment: String?
        var error: DurableError?
        var votes: [ApprovalVote]?
        var apiKey: String?
        var response: JSONValue?
        var onBehalfOf: String?

        init(decision: ApprovalDecisionPayload) {
            response = decision.response
            onBehalfOf = decision.onBehalfOf
            status = decision.decision == .approve ? .approved : .rejected
            decidedBy = decision.approver
            decidedAt = decision.decidedAt
            channel = decision.channel ?? .api
            comment = decision.comment
            votes = decision.votes
            apiKey = decision.apiKey
        }

        init(status: ApprovalStatus, error: DurableError, apiKey: String? = nil) {
            self.status = status
            self.error = error
            self.apiKey = apiKey
        }

        /// What the callback's end means: a decision sent through the callback API, the deadline (which the request's
        /// timeout policy turns into an approval or a time-out), or a failure.
        static func ending(_ callback: CallbackHandle, onTimeout: TimeoutPolicy?) async throws -> Verdict {
            do {
                return Verdict(decision: try await callback.result(as: ApprovalDecisionPayload.self))
            } catch let error as DurableError where error.isTimeout {
                return Verdict(status: onTimeout == .approve ? .approved : .timedOut, error: error)
            } catch let error as DurableError {
                return Verdict(status: error.errorType == DurableError.executionStopped ? .cancelled : .failed, error: error)
            }
        }
    }
}
