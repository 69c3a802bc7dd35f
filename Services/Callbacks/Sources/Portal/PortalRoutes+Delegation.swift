import ApprovalStore
import Foundation
import GreenlightModels
import Hummingbird
import Logging
import ServiceSupport

/// Out of office from the inbox: a signed-in approver sets (or clears) their own delegation, with the same rules as an
/// operator's `PUT /v1/delegations/{approver}`. Each change is a `DelegationSet` or `DelegationCleared` on
/// `approvals.internal`, set by the person's own address, which the orchestrator applies (it owns the table).
extension PortalRoutes {
    func registerDelegation(on router: Router<GreenlightRequestContext>) {
        router.get("inbox/delegation") { request, context in try await showDelegation(request, context: context) }
        router.post("inbox/delegation") { request, context in try await setDelegation(request, context: context) }
        router.post("inbox/delegation/clear") { request, context in try await clearDelegation(request, context: context) }
    }

    /// `GET /inbox/delegation`: the person's delegation, if any, and the form that sets one.
    func showDelegation(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        let visitor = await signedIn(request, context: context)
        guard case .session(let session, let cookie) = visitor else { return visitor.answer }
        guard let current = await currentDelegation(session, context: context) else { return unavailable }
        return PortalPages.page(pages.delegation(current, session: session), status: .ok, cookie: cookie)
    }

    /// The person's delegation while it still applies (one whose end has passed is over, though its row stays);
    /// nil when the database cannot say.
    private func currentDelegation(_ session: PortalSession, context: GreenlightRequestContext) async -> Delegation?? {
        let reader = self.reader
        do {
            let found = try await withDeadline(AnswerBudget.read, "Reading the delegation") {
                try await reader.delegation(approver: session.email)
            }
            return .some(found.flatMap { delegation in delegation.until.map { $0 > Date() } ?? true ? delegation : nil })
        } catch {
            context.logger.error("Delegation look-up failed", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// `POST /inbox/delegation`: sets the person's delegation from the form (`delegate`, `mode`, `until` as a UTC date,
    /// the first day back, and `reason`); the form again, with what is wrong, when the rules refuse it.
    func setDelegation(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        let posted = try await signedInForm(request, context: context)
        guard case .form(let form, let session, let cookie) = posted else { return posted.answer }
        let entered = form.single
        let now = Date()
        var errors: [Problem.FieldError] = []
        let until: Date?
        switch Self.firstDayBack(entered["until"]) {
        case .success(let date): until = date
        case .failure:
            until = nil
            errors.append(.init(field: "until", message: "must be a date (YYYY-MM-DD)"))
        }
        let mode = entered["mode"].flatMap(DelegationMode.init(rawValue:))
        if entered["mode"] != nil, mode == nil { errors.append(.init(field: "mode", message: "must be also or instead")) }
        let body = DelegationRequestBody(
            delegate: (entered["delegate"] ?? "").trimmingCharacters(in: .whitespaces), mode: mode, until: until,
            reason: PortalRoutes.comment(entered["reason"]))
        let (invalid, inconsistent) = body.problems(approver: session.email, at: now)
        errors += invalid + inconsistent
        guard errors.isEmpty else {
            guard let current = await currentDelegation(session, context: context) else { return unavailable }
            let page = pages.delegation(current, session: session, errors: errors.map { "\($0.field): \($0.message)" }, entered: entered)
            return PortalPages.page(page, status: .unprocessableContent, cookie: cookie)
        }
        let delegation = body.delegation(of: session.email, setBy: session.email, at: now)
        guard await queue(DelegationSet(delegation: delegation), request: request, context: context) else { return unavailable }
        context.logger.info(
            "Delegation set from the inbox", metadata: ["delegate": "\(delegation.delegate)", "mode": "\(delegation.mode.rawValue)"])
        return PortalPages.page(pages.delegation(delegation, session: session, saved: true), status: .ok, cookie: cookie)
    }

    /// `POST /inbox/delegation/clear`: ends the person's delegation (requests already with the delegate stay there).
    func clearDelegation(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        let posted = try await signedInForm(request, context: context)
        guard case .form(_, let session, let cookie) = posted else { return posted.answer }
        let event = DelegationCleared(approver: session.email, clearedBy: session.email, clearedAt: Date())
        guard await queue(event, request: request, context: context) else { return unavailable }
        context.logger.info("Delegation cleared from the inbox")
        return PortalPages.page(pages.delegation(nil, session: session, cleared: true), status: .ok, cookie: cookie)
    }

    /// Publishes a delegation change; false (logged) when it could not be queued.
    private func queue<Event: GreenlightEvent>(_ event: Event, request: Request, context: GreenlightRequestContext) async -> Bool {
        do {
            _ = try await publisher.publish(event, trace: request.trace)
            return true
        } catch {
            context.logger.error("Could not publish \(Event.eventType)", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// The form's `until`: a UTC date, the first day back (the delegation ends at its start); empty: until cleared.
    static func firstDayBack(_ text: String?) -> Result<Date?, DateNotUnderstood> {
        guard let text = text?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return .success(nil) }
        // Exactly YYYY-MM-DD, a real day (the timestamp parser refuses month 13 or 30 February).
        guard text.utf8.count == 10, let date = Timestamp.parse("\(text)T00:00:00Z") else { return .failure(DateNotUnderstood()) }
        return .success(date)
    }

    struct DateNotUnderstood: Error {}
}
