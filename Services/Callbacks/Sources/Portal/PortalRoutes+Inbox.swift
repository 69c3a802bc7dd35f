import ApprovalStore
import Foundation
import GreenlightModels
import Hummingbird
import Logging
import Metrics
import ServiceSupport

extension PortalRoutes {
    /// `GET /inbox`: what waits on the signed-in person.
    func list(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        let visitor = await signedIn(request, context: context)
        guard case .session(let session, let cookie) = visitor else { return visitor.answer }
        let reader = self.reader
        do {
            let items = try await withDeadline(AnswerBudget.read, "Reading the inbox") {
                try await reader.inbox(for: session.email)
            }
            return PortalPages.page(pages.list(items, session: session), status: .ok, cookie: cookie)
        } catch {
            context.logger.error("Inbox look-up failed", metadata: ["error": "\(error)"])
            return unavailable
        }
    }

    /// `GET /inbox/requests/{id}`: one request of the inbox with its decision forms.
    func showRequest(_ requestId: String, request: Request, context: GreenlightRequestContext) async throws -> Response {
        let visitor = await signedIn(request, context: context)
        guard case .session(let session, let cookie) = visitor else { return visitor.answer }
        guard let item = try await inboxItem(requestId, session: session, context: context) else {
            return PortalPages.page(pages.notFound, status: .notFound, cookie: cookie)
        }
        return PortalPages.page(pages.request(item, session: session), status: .ok, cookie: cookie)
    }

    /// `POST /inbox/requests/{id}`: one decision, with the request's typed answers and reason rule checked here (the
    /// page is shown again to put them right) as the review page checks them.
    func decideOne(_ requestId: String, request: Request, context: GreenlightRequestContext) async throws -> Response {
        let posted = try await signedInForm(request, context: context)
        guard case .form(let form, let session, let cookie) = posted else { return posted.answer }
        guard let decision = form.value("decision").flatMap(Decision.init(rawValue:)) else {
            return PortalPages.page(pages.formRefused, status: .badRequest)
        }
        guard let item = try await inboxItem(requestId, session: session, context: context) else {
            return PortalPages.page(pages.notFound, status: .notFound, cookie: cookie)
        }
        let entered = form.single
        let comment = Self.comment(form.value("comment"))
        let (response, problems) = item.content.answers(to: decision, comment: comment, form: entered)
        if !problems.isEmpty {
            let sentences = problems.map { Pages.sentence($0, content: item.content) }
            let page = pages.request(item, session: session, errors: sentences, entered: entered)
            return PortalPages.page(page, status: .unprocessableContent, cookie: cookie)
        }
        let results = await decide(
            [Choice(item: item, decision: decision, comment: comment, response: response)], session: session,
            request: request, context: context)
        return PortalPages.page(pages.results(results, session: session), status: .ok, cookie: cookie)
    }

    /// `POST /inbox/bulk`: the selected requests, each decided the same way as its own vote. One whose rules need
    /// what the list cannot give (typed answers, a reason not written) is not sent, and the page says so.
    func decideMany(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        let posted = try await signedInForm(request, context: context)
        guard case .form(let form, let session, let cookie) = posted else { return posted.answer }
        guard let decision = form.value("decision").flatMap(Decision.init(rawValue:)) else {
            return PortalPages.page(pages.formRefused, status: .badRequest)
        }
        let comment = Self.comment(form.value("comment"))
        var ids: [String] = []
        for id in form.values("id") where !ids.contains(id) { ids.append(id) }
        guard !ids.isEmpty, ids.count <= 200 else { return PortalPages.redirect(to: "/inbox", cookie: cookie) }
        var choices: [Choice] = []
        var results: [String: PortalValues.Result] = [:]
        for id in ids {
            guard let item = try await inboxItem(id, session: session, context: context) else {
                results[id] = Self.refused(id, decision, "it is no longer waiting on you")
                continue
            }
            let problems = item.content.check(decision, comment: comment, response: nil)
            if item.content.responseSchema != nil || !problems.isEmpty {
                let why = item.content.responseSchema != nil
                    ? "it asks for answers: open it to decide" : problems.map { Pages.sentence($0, content: item.content) }.joined(separator: "; ")
                results[id] = Self.refused(id, decision, "not sent: \(why)")
                continue
            }
            choices.append(Choice(item: item, decision: decision, comment: comment, response: nil))
        }
        for result in await decide(choices, session: session, request: request, context: context) {
            results[result.requestId] = result
        }
        let page = pages.results(ids.compactMap { results[$0] }, session: session)
        return PortalPages.page(page, status: .ok, cookie: cookie)
    }

    // MARK: - Deciding

    /// One decision to send.
    struct Choice: Sendable {
        var item: InboxItem
        var decision: Decision
        var comment: String?
        var response: JSONValue?
    }

    /// Publishes each choice as its own `DecisionSubmitted` (channel `inbox`, by the signed-in person, dated by the
    /// database's clock), then waits up to `verdictWait` for what the orchestrator made of them.
    func decide(_ choices: [Choice], session: PortalSession, request: Request, context: GreenlightRequestContext) async
        -> [PortalValues.Result]
    {
        var sent: [(Choice, DecisionSubmitted)] = []
        var results: [String: PortalValues.Result] = [:]
        for choice in choices {
            let event = DecisionSubmitted(
                requestId: choice.item.requestId, decision: choice.decision, decidedBy: session.email, channel: .inbox,
                comment: choice.comment, decidedAt: choice.item.readAt, tokenHash: nil,
                clientAddress: clientAddress(request, context),
                userAgent: request.headers[.userAgent].map { String($0.prefix(300)) }, response: choice.response)
            do {
                try await inSpan("decide from inbox", continuing: choice.item.trace ?? request.trace) { trace in
                    _ = try await publisher.publish(event, trace: trace)
                }
                context.logger.info(
                    "Decision submitted from the inbox",
                    metadata: ["requestId": "\(event.requestId)", "eventId": "\(event.eventId)", "decision": "\(event.decision.rawValue)"])
                Counter(label: "greenlight_inbox_decisions_total", dimensions: [("decision", event.decision.rawValue)]).increment()
                sent.append((choice, event))
            } catch {
                context.logger.error(
                    "Could not publish DecisionSubmitted", metadata: ["requestId": "\(event.requestId)", "error": "\(error)"])
                results[event.requestId] = Self.refused(
                    event.requestId, choice.decision, "the approval service could not take it just now: try again")
            }
        }
        let verdicts = await verdicts(of: sent.map(\.1), context: context)
        for (choice, event) in sent {
            results[event.requestId] = Self.result(of: event, verdict: verdicts[event.eventId], decision: choice.decision)
        }
        return choices.compactMap { results[$0.item.requestId] }
    }

    /// The orchestrator's verdicts on `events`, as many as arrive within `verdictWait`.
    func verdicts(of events: [DecisionSubmitted], context: GreenlightRequestContext) async -> [UUID: DecisionVerdict] {
        var verdicts: [UUID: DecisionVerdict] = [:]
        let deadline = ContinuousClock.now + verdictWait
        var pause = Duration.milliseconds(50)
        let reader = self.reader
        func waiting() -> [DecisionSubmitted] { events.filter { verdicts[$0.eventId]?.awaitsRequestState ?? true } }
        while verdictWait > .zero, !waiting().isEmpty, ContinuousClock.now < deadline, !Task.isCancelled {
            try? await Task.sleep(for: min(pause, deadline - ContinuousClock.now))
            pause = min(pause * 2, .milliseconds(400))
            for event in waiting() {
                do {
                    let left = max(deadline - ContinuousClock.now, .milliseconds(200))
                    verdicts[event.eventId] = try await withDeadline(min(left, AnswerBudget.read), "Reading a verdict") {
                        try await reader.verdict(requestId: event.requestId, eventId: event.eventId)
                    }
                } catch {
                    context.logger.warning("Verdict look-up failed", metadata: ["requestId": "\(event.requestId)", "error": "\(error)"])
                }
            }
        }
        return verdicts
    }

    /// What the results page says of one decision: never more than the verdict says.
    static func result(of event: DecisionSubmitted, verdict: DecisionVerdict?, decision: Decision) -> PortalValues.Result {
        var result = PortalValues.Result(requestId: event.requestId, decision: PageValues.Choice(decision))
        guard let verdict else {
            result.received = true
            return result
        }
        if verdict.accepted {
            if let tally = verdict.tally {
                result.vote = true
                result.approvals = tally.approvals
                result.needed = tally.needed
            } else if verdict.status == .approved || verdict.status == .rejected {
                result.settled = true
                result.status = PageValues.Status(verdict.status)
            } else {
                result.received = true
            }
            return result
        }
        var reason = verdict.reason ?? "it was refused"
        if verdict.isFourEyesRefusal {
            reason = "you requested it, and the requester cannot decide their own request"
        } else if verdict.cameTooLate || verdict.status != .pending {
            let status = verdict.status == .timedOut ? "timed out" : verdict.status.rawValue
            reason = "it was already \(status)" + (verdict.decidedBy.map { " by \($0)" } ?? "")
        }
        return refused(event.requestId, decision, reason)
    }

    static func refused(_ requestId: String, _ decision: Decision, _ reason: String) -> PortalValues.Result {
        var result = PortalValues.Result(requestId: requestId, decision: PageValues.Choice(decision))
        result.refused = true
        result.reason = reason
        return result
    }

    static func comment(_ text: String?) -> String? {
        text.map { String($0.prefix(1000)) }.flatMap { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : $0 }
    }

    /// The request if it waits on the signed-in person; nil otherwise (or when the database cannot say).
    func inboxItem(_ requestId: String, session: PortalSession, context: GreenlightRequestContext) async throws -> InboxItem? {
        let reader = self.reader
        return try await withDeadline(AnswerBudget.read, "Reading the request") {
            try await reader.inboxItem(requestId: requestId, for: session.email)
        }
    }
}
