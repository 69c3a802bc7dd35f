import ApprovalStore
import Foundation
import GreenlightModels
import Hummingbird
import ServiceSupport

/// Where intake reads the delegations the orchestrator keeps.
public protocol DelegationReading: Sendable {
    func delegation(approver: String) async throws -> Delegation?
    func delegations(limit: Int) async throws -> [Delegation]
}

extension ApprovalReader: DelegationReading {}

/// Delegation (out of office) and reassignment, for operators (`admin` scope): each change is an event on
/// `approvals.internal` that the orchestrator applies (it owns the tables); 202 means it was queued.
extension IntakeRoutes {
    public func registerDelegations(on router: Router<GreenlightRequestContext>, reader: any DelegationReading) {
        router.get("v1/delegations") { request, context -> Response in
            try apiKeys.require(.admin, request)
            let found = try await reading(context) { try await reader.delegations(limit: 1000) }
            return try .json(DelegationListBody(delegations: found))
        }
        router.get("v1/delegations/:approver") { request, context -> Response in
            try apiKeys.require(.admin, request)
            let approver = try Self.approverParameter(context)
            guard let found = try await reading(context, { try await reader.delegation(approver: approver) }) else {
                throw Problem(title: "Not Found", status: 404, detail: "\(approver) has no delegation.")
            }
            return try .json(found)
        }
        router.put("v1/delegations/:approver") { request, context in
            try await setDelegation(Self.approverParameter(context), request: request, context: context)
        }
        router.delete("v1/delegations/:approver") { request, context -> Response in
            let key = try apiKeys.require(.admin, request)
            let approver = try Self.approverParameter(context)
            let event = DelegationCleared(approver: approver, clearedBy: key?.name ?? "api", clearedAt: now(), apiKey: key?.name)
            _ = try await queue(event, trace: request.trace, what: "delegation change")
            return try Response.json(["message": "Delegation cleared", "approver": approver], status: .accepted)
        }
        router.post("v1/requests/:requestId/reassign") { request, context in
            try await reassign(context.parameters.require("requestId"), request: request, context: context)
        }
    }

    /// Sets (or replaces) an approver's delegation: requests that reach them from `from` until `until` also (or
    /// instead) go to the delegate.
    func setDelegation(_ approver: String, request: Request, context: GreenlightRequestContext) async throws -> Response {
        let key = try apiKeys.require(.admin, request)
        guard let body = try await Self.optionalBody(DelegationRequestBody.self, of: request) else {
            throw Problem.validation([.init(field: "delegate", message: "send {\"delegate\": \"b@example.com\", \"mode\": \"also\"}")])
        }
        let at = now()
        let (invalid, inconsistent) = body.problems(approver: approver, at: at)
        guard invalid.isEmpty else { throw Problem.validation(invalid) }
        // Rules between fields, which the schema cannot state: a 422.
        guard inconsistent.isEmpty else { throw Problem.inconsistent(inconsistent) }
        let delegation = body.delegation(of: approver, setBy: key?.name ?? "api", at: at)
        _ = try await queue(DelegationSet(delegation: delegation, apiKey: key?.name), trace: request.trace, what: "delegation")
        context.logger.info(
            "Delegation accepted",
            metadata: ["approver": "\(approver)", "delegate": "\(delegation.delegate)", "mode": "\(delegation.mode.rawValue)"])
        return try .json(delegation, status: .accepted)
    }

    /// Moves a pending request from one of its approvers to someone else (recorded in its history); the new approver
    /// gets a link, the old one's stops counting.
    func reassign(_ requestId: String, request: Request, context: GreenlightRequestContext) async throws -> Response {
        let key = try apiKeys.require(.admin, request)
        guard let body = try await Self.optionalBody(ReassignRequestBody.self, of: request) else {
            throw Problem.validation([.init(field: "from", message: "send {\"from\": \"a@example.com\", \"to\": \"c@example.com\"}")])
        }
        var problems: [Problem.FieldError] = []
        if !EmailAddress.isValid(body.to) { problems.append(.init(field: "to", message: "must be an email address")) }
        if let reason = body.reason, reason.unicodeScalars.count > 500 {
            problems.append(.init(field: "reason", message: "must be at most 500 characters"))
        }
        guard problems.isEmpty else { throw Problem.validation(problems) }
        let found = try await lookUp(requestId, context: context)
        guard found.status == .pending else {
            throw Problem(title: "Conflict", status: 409, detail: "Request \(requestId) is already \(found.status.rawValue).")
        }
        // What the schema cannot know: the request's approvers (422, as a resend to a stranger is).
        func notMovable(_ field: String, _ message: String) -> Problem {
            Problem(
                type: "https://greenlight.dev/problems/not-an-approver", title: "Cannot reassign", status: 422,
                detail: "\(field): \(message)", errors: [.init(field: field, message: message)])
        }
        let approvers = found.approvers.map { $0.lowercased() }
        guard approvers.contains(body.from.lowercased()) else {
            throw notMovable("from", "is not an approver of \(requestId) (\(found.approvers.joined(separator: ", ")))")
        }
        guard !approvers.contains(body.to.lowercased()) else {
            throw notMovable("to", "is already an approver of \(requestId)")
        }
        if fourEyes, let requester = found.requester, requester.lowercased() == body.to.lowercased() {
            throw notMovable("to", "requested \(requestId) and cannot decide it (GREENLIGHT_FOUR_EYES)")
        }
        if let vote = found.votes?.first(where: { ($0.onBehalfOf ?? $0.approver).lowercased() == body.from.lowercased() }) {
            throw Problem(
                title: "Conflict", status: 409, detail: "\(body.from) has already decided on \(requestId) (\(vote.approver)).")
        }
        let event = ReassignRequested(
            requestId: requestId, from: body.from, to: body.to, reason: body.reason.flatMap { $0.isEmpty ? nil : $0 },
            requestedAt: now(), apiKey: key?.name)
        let publication = try await queue(event, trace: request.trace, what: "reassignment")
        return try .json(Self.accepted("Reassignment accepted", requestId: requestId, publication), status: .accepted)
    }

    /// The `{approver}` of the path: an email address.
    static func approverParameter(_ context: GreenlightRequestContext) throws -> String {
        let approver = try context.parameters.require("approver").removingPercentEncoding ?? ""
        guard EmailAddress.isValid(approver) else {
            throw Problem.validation([.init(field: "approver", message: "must be an email address (in the path)")])
        }
        return approver
    }
}
