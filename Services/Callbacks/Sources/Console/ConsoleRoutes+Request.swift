import ApprovalStore
import Foundation
import GreenlightModels
import Hummingbird
import ServiceSupport

extension ConsoleRoutes {
    /// One request: its details, its timeline, and (while it is pending) resend and cancel.
    func show(
        _ requestId: String, _ request: Request, _ consoleOperator: ConsoleOperator, _ context: GreenlightRequestContext,
        cancelReason: String? = nil, errors: [String] = []
    ) async throws -> Response {
        let backend = self.backend
        let read = try await withDeadline(Self.readBudget, "Reading the request") {
            async let status = backend.status(requestId: requestId)
            async let attempts = backend.decisionAttempts(requestId: requestId)
            async let history = backend.history(requestId: requestId)
            return (try await status, try await attempts, try await history)
        }
        guard let body = read.0 else {
            return message(.notFound, "No such request", "There is no request with id \(requestId).")
        }
        let engine = request.uri.queryParameters.get("engine") == "1"
        var values = self.values(for: consoleOperator)
        values.request = ConsoleValues.request(body)
        values.status = ConsoleValues.words(body.status)
        values.approvers = body.approvers.joined(separator: ", ")
        values.policy = "\(body.policy ?? .any)"
        values.pending = body.status == .pending
        values.timeline = ConsoleTimeline.entries(
            history: read.2 ?? [], votes: body.votes ?? [], attempts: read.1, engine: engine)
        let path = "/console/requests/" + Self.pathSegment(requestId)
        values.resendAction = path + "/resend"
        values.cancelAction = path + "/cancel"
        values.cancelReason = cancelReason
        values.errors = errors
        values.engine = engine
        values.engineToggle = engine ? path : path + "?engine=1"
        values.notice = Self.notice(request.uri.queryParameters.get("done"))
        return page(.consoleRequest, values, status: errors.isEmpty ? .ok : .unprocessableContent)
    }

    /// What a `?done=` after a POST says.
    static func notice(_ done: String?) -> String? {
        switch done {
        case "resend": "Resend queued: the undecided approvers get their link again in a new message."
        case "cancel": "Cancellation queued: the request ends as cancelled and its links stop working."
        case "replay": "Replayed: the event is on its topic again, with its original eventId."
        default: nil
        }
    }

    /// The request, which must still be pending; otherwise the page that says what it is.
    private func pendingRequest(_ requestId: String) async throws -> Result<RequestStatusBody, ResponseError> {
        let backend = self.backend
        let found = try await withDeadline(Self.readBudget, "Reading the request") { try await backend.status(requestId: requestId) }
        guard let found else {
            return .failure(ResponseError(message(.notFound, "No such request", "There is no request with id \(requestId).")))
        }
        guard found.status == .pending else {
            return .failure(
                ResponseError(
                    message(.conflict, "Nothing to do", "Request \(requestId) is already \(ConsoleValues.words(found.status)).")))
        }
        return .success(found)
    }

    /// `ResendRequested` for every undecided approver, as `POST /v1/requests/{id}/resend` publishes it.
    func resend(
        _ requestId: String, _ request: Request, _ consoleOperator: ConsoleOperator, _ context: GreenlightRequestContext
    ) async throws -> Response {
        if case .failure(let refused) = try await pendingRequest(requestId) { return refused.response }
        let event = ResendRequested(requestId: requestId, approver: nil, requestedAt: now(), apiKey: consoleOperator.name)
        guard await publish(event, trace: request.trace, context, what: "resend") else { return unqueued("resend") }
        return Self.seeOther("/console/requests/\(Self.pathSegment(requestId))?done=resend")
    }

    /// `CancelRequested` with the operator's reason, as `POST /v1/requests/{id}/cancel` publishes it.
    func cancel(
        _ requestId: String, form: [String: String], _ request: Request, _ consoleOperator: ConsoleOperator,
        _ context: GreenlightRequestContext
    ) async throws -> Response {
        let reason = (form["reason"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        var problems: [String] = []
        if reason.isEmpty { problems.append("Reason: say why the request is cancelled (the history keeps it).") }
        if reason.unicodeScalars.count > 500 { problems.append("Reason: at most 500 characters.") }
        guard problems.isEmpty else {
            return try await show(requestId, request, consoleOperator, context, cancelReason: reason, errors: problems)
        }
        if case .failure(let refused) = try await pendingRequest(requestId) { return refused.response }
        let event = CancelRequested(requestId: requestId, reason: reason, requestedAt: now(), apiKey: consoleOperator.name)
        guard await publish(event, trace: request.trace, context, what: "cancellation") else { return unqueued("cancellation") }
        return Self.seeOther("/console/requests/\(Self.pathSegment(requestId))?done=cancel")
    }

    func publish<Event: GreenlightEvent>(
        _ event: Event, trace: TraceContext, _ context: GreenlightRequestContext, what: String
    ) async -> Bool {
        do {
            let publication = try await publisher.publish(event, trace: trace)
            context.logger.info(
                "Console \(what) queued",
                metadata: [
                    "requestId": "\(event.requestId)", "eventId": "\(event.eventId)", "queued": "\(publication == .queued)",
                ])
            return true
        } catch {
            context.logger.error("Could not publish the console's \(what)", metadata: ["error": "\(error)"])
            return false
        }
    }

    func unqueued(_ what: String) -> Response {
        message(.serviceUnavailable, "Not queued", "The \(what) could not be queued: the message broker and the database did not take it. Retry shortly.")
    }
}

/// A page answered instead of going on.
struct ResponseError: Error {
    var response: Response

    init(_ response: Response) {
        self.response = response
    }
}
