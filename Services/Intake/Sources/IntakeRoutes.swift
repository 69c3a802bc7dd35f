import ApprovalStore
import DurableExecution
import Foundation
import GreenlightModels
import Hummingbird
import Logging
import Metrics
import Postgres
import NIOCore
import ServiceSupport

/// Where intake reads a request's status, its execution history and its callbacks.
public protocol ApprovalStatusReading: Sendable {
    func status(requestId: String) async throws -> RequestStatusBody?
    func history(requestId: String) async throws -> [HistoryEvent]?
    func callbackIds(requestId: String) async throws -> [UUID]
    /// Pending requests submitted before `submittedBefore` (all when nil), oldest first.
    func pending(submittedBefore: Date?, limit: Int) async throws -> [RequestStatusBody]
}

/// The Postgres-backed reader.
public struct LiveStatusReader: ApprovalStatusReading {
    let approvals: ApprovalReader
    let durable: DurableReader

    public init(pool: PostgresPool) {
        approvals = ApprovalReader(pool: pool)
        durable = DurableReader(pool: pool)
    }

    public func status(requestId: String) async throws -> RequestStatusBody? {
        try await approvals.status(requestId: requestId)
    }

    public func history(requestId: String) async throws -> [HistoryEvent]? {
        try await durable.history(ofExecution: requestId)?.map(IntakeRoutes.withoutCallbackSecret)
    }

    public func callbackIds(requestId: String) async throws -> [UUID] {
        try await durable.callbacks(ofExecution: requestId).map(\.callbackId)
    }

    public func pending(submittedBefore: Date?, limit: Int) async throws -> [RequestStatusBody] {
        try await approvals.pending(submittedBefore: submittedBefore, limit: limit)
    }
}

/// The answer to `GET /v1/requests/{requestId}/history`.
public struct HistoryBody: Codable, Sendable {
    public var requestId: String
    public var events: [HistoryEvent]
}

/// The intake HTTP API: submit a request, read its status. Shared by `main` and the tests.
public struct IntakeRoutes: Sendable {
    /// Bodies larger than this are refused with 413.
    public static let maxBodyBytes = 64 * 1024
    /// The longest age `GET /v1/requests?olderThanSeconds=` takes: 100 years (more cannot name a request).
    public static let maxOlderThanSeconds = 3_153_600_000

    let publisher: any EventPublishing
    let statuses: any ApprovalStatusReading
    let defaultApprover: String
    let defaultChannel: NotificationChannel
    let apiKeys: APIKeys
    /// Whether a request's requester may not be among its approvers (`GREENLIGHT_FOUR_EYES`).
    let fourEyes: Bool
    /// Submissions per API key (per client address when the API is open); nil: no limit.
    let submitLimiter: RateLimiter?
    /// Requests that may email one address; nil: no limit.
    let recipientLimiter: RateLimiter?
    /// Whether a `callbackUrl` may name a private, loopback or link-local address (`GREENLIGHT_CALLBACK_ALLOW_PRIVATE`).
    let callbackAllowPrivate: Bool
    let now: @Sendable () -> Date
    /// How long a read the answer can do without may take (`AnswerBudget.optionalRead`), and one it needs
    /// (`AnswerBudget.read`); a test that holds a read on purpose sets them longer.
    public var optionalReadBudget = AnswerBudget.optionalRead
    public var readBudget = AnswerBudget.read

    public init(
        publisher: any EventPublishing, statuses: any ApprovalStatusReading, defaultApprover: String,
        defaultChannel: NotificationChannel = .email,
        apiKeys: APIKeys = APIKeys([]), fourEyes: Bool = true, submitLimiter: RateLimiter? = nil,
        recipientLimiter: RateLimiter? = nil, callbackAllowPrivate: Bool = false,
        now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.callbackAllowPrivate = callbackAllowPrivate
        self.submitLimiter = submitLimiter
        self.recipientLimiter = recipientLimiter
        self.publisher = publisher
        self.statuses = statuses
        self.defaultApprover = defaultApprover
        self.defaultChannel = defaultChannel
        self.apiKeys = apiKeys
        self.fourEyes = fourEyes
        self.now = now
    }

    public func register(on router: Router<GreenlightRequestContext>) {
        // `/requests` is the path of the pattern Greenlight replaces; `/v1/requests` is ours.
        for prefix in ["v1/requests", "requests"] {
            router.post(RouterPath(prefix)) { request, context in try await submit(request, context: context) }
            router.get(RouterPath("\(prefix)/:requestId")) { request, context in
                try await status(context.parameters.require("requestId"), request: request, context: context)
            }
            router.get(RouterPath("\(prefix)/:requestId/history")) { request, context in
                try await history(context.parameters.require("requestId"), request: request, context: context)
            }
            router.post(RouterPath("\(prefix)/:requestId/cancel")) { request, context in
                try await cancel(context.parameters.require("requestId"), request: request, context: context)
            }
        }
        // Operator routes exist only under /v1.
        router.get("v1/requests") { request, context in try await list(request, context: context) }
        router.post("v1/requests/:requestId/decision") { request, context in
            try await decide(context.parameters.require("requestId"), request: request, context: context)
        }
        router.post("v1/requests/:requestId/resend") { request, context in
            try await resend(context.parameters.require("requestId"), request: request, context: context)
        }
    }

    func submit(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        let key = try apiKeys.require(.submit, request)
        if let submitLimiter {
            let caller = key.map { "key \($0.name)" } ?? "client \(context.clientAddress(of: request, trustForwardedFor: false) ?? "unknown")"
            if let wait = submitLimiter.acquire(caller) {
                context.logger.notice("Submissions rate-limited", metadata: ["caller": "\(caller)", "retryAfter": "\(wait)"])
                throw RateLimited(
                    limit: "submit", retryAfter: wait,
                    detail: "The \(caller) has submitted \(submitLimiter.limit) requests in the last minute, its limit "
                        + "(GREENLIGHT_SUBMIT_RATE_LIMIT).")
            }
        }
        if let type = request.headers[.contentType], !type.lowercased().hasPrefix("application/json") {
            throw Problem(
                title: "Unsupported Media Type", status: 415,
                detail: "Send the request as JSON with Content-Type: application/json.")
        }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: Self.maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw Problem(
                title: "Content Too Large", status: 413,
                detail: "The body is larger than \(Self.maxBodyBytes) bytes; shorten the description.")
        }
        let validated = try Self.parse(Data(buffer: body), defaultApprover: defaultApprover, defaultChannel: defaultChannel)
        if fourEyes { try Self.checkFourEyes(validated) }
        if !callbackAllowPrivate { try Self.checkCallbackAddress(validated) }

        let statusPath = "/v1/requests/\(validated.requestId)"
        let statuses = self.statuses
        // What publishing reads first (the outbox) is read alongside the status: one round trip's wait, not two.
        let plan = publisher.planAhead(ApprovalRequested.self, key: validated.requestId)
        do {
            let known = try await withDeadline(optionalReadBudget, "Looking up the request") {
                try await statuses.status(requestId: validated.requestId)
            }
            if known != nil {
                return try .json(
                    RequestAccepted(
                        message: "Request already accepted", requestId: validated.requestId, statusUrl: statusPath),
                    status: .ok, headers: [.location: statusPath])
            }
        } catch {
            // The orchestrator also ignores a request id it has seen, so publishing is still safe.
            context.logger.warning("Status look-up failed; publishing anyway", metadata: ["error": "\(error)"])
        }

        let recipients = (validated.approvers + validated.escalateTo).map { $0.lowercased() }
        if let recipientLimiter {
            if let wait = recipientLimiter.acquire(all: recipients) {
                context.logger.notice(
                    "Request refused: a recipient's email limit is reached",
                    metadata: ["requestId": "\(validated.requestId)", "retryAfter": "\(wait)"])
                throw RateLimited(
                    limit: "recipient", retryAfter: wait,
                    detail: "One of this request's approvers has been sent \(recipientLimiter.limit) requests in the last "
                        + "hour, the most one address may get (GREENLIGHT_RECIPIENT_RATE_LIMIT); nothing was sent.")
            }
        }

        let event = validated.event(submittedAt: now())
        let trace = request.trace
        let publication: Publication
        do {
            publication = try await publisher.publish(event, trace: trace, plan: await plan.value)
        } catch {
            // Nothing will be sent: the recipients keep their allowance for the retry.
            recipientLimiter?.giveBack(all: recipients)
            context.logger.error(
                "Could not publish ApprovalRequested",
                metadata: ["requestId": "\(validated.requestId)", "traceId": "\(trace.traceId)", "error": "\(error)"])
            throw Problem(
                title: "Service Unavailable", status: 503,
                detail: "Neither the message broker nor the database confirmed the request in time, so it may not have "
                    + "been accepted. Retry with the same requestId: a request already accepted is not started twice.")
        }
        Counter(label: "greenlight_requests_accepted_total").increment()
        context.logger.info(
            "Request accepted",
            metadata: [
                "requestId": "\(validated.requestId)", "eventId": "\(event.eventId)", "traceId": "\(trace.traceId)",
                "queued": "\(publication == .queued)",
            ])
        // The trace the request's whole path (orchestrator, notifier, click, outcome) is recorded under.
        return try .json(
            Self.accepted("Request accepted", requestId: validated.requestId, publication),
            status: .accepted, headers: [.location: statusPath, .traceparent: trace.traceparent])
    }

    func status(_ requestId: String, request: Request, context: GreenlightRequestContext) async throws -> Response {
        try apiKeys.require(.read, request)
        var found = try await lookUp(requestId, context: context)
        found.callbackIds = try await reading(context) { try await statuses.callbackIds(requestId: requestId) }
        return try .json(found)
    }

    func history(_ requestId: String, request: Request, context: GreenlightRequestContext) async throws -> Response {
        try apiKeys.require(.read, request)
        guard let events = try await reading(context, { try await statuses.history(requestId: requestId) }) else {
            throw Self.notFound(requestId)
        }
        return try .json(HistoryBody(requestId: requestId, events: events))
    }

    /// Stops a pending request (`admin` scope): its callbacks end, its links stop working, the outcome says
    /// cancelled.
    func cancel(_ requestId: String, request: Request, context: GreenlightRequestContext) async throws -> Response {
        let key = try apiKeys.require(.admin, request)
        let body = try await Self.optionalBody(CancelRequestBody.self, of: request)
        if let reason = body?.reason, reason.unicodeScalars.count > 500 {
            throw Problem.validation([.init(field: "reason", message: "must be at most 500 characters")])
        }
        // After the body, which comes at the client's pace: the plan is read as near the send as the look-up is.
        let plan = publisher.planAhead(CancelRequested.self, key: requestId)
        _ = try await lookUpPending(requestId, context: context)
        let reason = body?.reason.flatMap { $0.isEmpty ? nil : $0 } ?? "cancelled through the API"
        let event = CancelRequested(requestId: requestId, reason: reason, requestedAt: now(), apiKey: key?.name)
        let publication = try await queue(event, trace: request.trace, plan: await plan.value, what: "cancellation")
        return try .json(Self.accepted("Cancellation accepted", requestId: requestId, publication), status: .accepted)
    }

    /// Lists requests (`read` scope). Only `status=pending` is supported; `olderThanSeconds` keeps those
    /// submitted at least that long ago; `limit` (1–1000, default 100) caps the answer, oldest first.
    func list(_ request: Request, context: GreenlightRequestContext) async throws -> Response {
        try apiKeys.require(.read, request)
        let query = request.uri.queryParameters
        guard query.get("status") == ApprovalStatus.pending.rawValue else {
            throw Problem.validation([.init(field: "status", message: "must be \"pending\" (the only list there is)")])
        }
        var problems: [Problem.FieldError] = []
        let olderThan = query.get("olderThanSeconds").map { Int($0) }
        if case .some(.none) = olderThan { problems.append(.init(field: "olderThanSeconds", message: "must be a whole number of seconds")) }
        if case .some(.some(let seconds)) = olderThan, !(0...Self.maxOlderThanSeconds).contains(seconds) {
            problems.append(
                .init(field: "olderThanSeconds", message: "must be from 0 to \(Self.maxOlderThanSeconds) (100 years)"))
        }
        let limit = query.get("limit").map { Int($0) } ?? 100
        if limit == nil || !(1...1000).contains(limit!) {
            problems.append(.init(field: "limit", message: "must be a whole number from 1 to 1000"))
        }
        guard problems.isEmpty, let limit else { throw Problem.validation(problems) }
        let before = olderThan.flatMap { $0 }.map { now().addingTimeInterval(-TimeInterval($0)) }
        let found = try await reading(context) { try await statuses.pending(submittedBefore: before, limit: limit) }
        return try .json(RequestListBody(requests: found))
    }

    /// Decides a pending request on behalf of `decidedBy` (`decide` scope; the key's name is recorded beside it): the decision travels the same
    /// way as a click on an emailed link (`approvals.decisions`, then the orchestrator), on the `api` channel.
    func decide(_ requestId: String, request: Request, context: GreenlightRequestContext) async throws -> Response {
        let key = try apiKeys.require(.decide, request)
        guard let body = try await Self.optionalBody(DecisionRequestBody.self, of: request) else {
            throw Problem.validation([
                .init(field: "decision", message: "send {\"decision\": \"approve\" or \"reject\", \"decidedBy\": …}")
            ])
        }
        // As the document states them: lengths in Unicode code points, as JSON Schema counts.
        let decidedBy = body.decidedBy.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !decidedBy.isEmpty, body.decidedBy.unicodeScalars.count <= 320 else {
            throw Problem.validation([.init(field: "decidedBy", message: "must name who decides (1–320 characters)")])
        }
        if let comment = body.comment, comment.unicodeScalars.count > 1000 {
            throw Problem.validation([.init(field: "comment", message: "must be at most 1000 characters")])
        }
        let plan = publisher.planAhead(DecisionSubmitted.self, key: requestId)
        let found = try await lookUpPending(requestId, context: context)
        let comment = body.comment.flatMap { $0.isEmpty ? nil : $0 }
        // The request's rules, checked here so the caller learns what to fix; the orchestrator checks them again.
        let broken = found.content.check(body.decision, comment: comment, response: body.response)
        guard broken.isEmpty else { throw Problem.decisionRules(broken) }
        let event = DecisionSubmitted(
            requestId: requestId, decision: body.decision, decidedBy: decidedBy, channel: .api, comment: comment,
            decidedAt: now(), tokenHash: nil, apiKey: key?.name, response: body.response)
        let trace = request.trace
        let publication = try await queue(event, trace: trace, plan: await plan.value, what: "decision")
        context.logger.info(
            "Decision submitted through the API",
            metadata: [
                "requestId": "\(requestId)", "eventId": "\(event.eventId)", "decision": "\(body.decision.rawValue)",
                "traceId": "\(trace.traceId)", "apiKey": "\(key?.name ?? "none (open API)")",
            ])
        return try .json(Self.accepted("Decision accepted", requestId: requestId, publication), status: .accepted)
    }

    /// Sends a pending request's undecided approvers (or the one named) their link again, in a new message
    /// (`admin` scope). The link itself does not change.
    func resend(_ requestId: String, request: Request, context: GreenlightRequestContext) async throws -> Response {
        let key = try apiKeys.require(.admin, request)
        let body = try await Self.optionalBody(ResendRequestBody.self, of: request)
        let plan = publisher.planAhead(ResendRequested.self, key: requestId)
        let found = try await lookUpPending(requestId, context: context)
        // A well-formed address the request does not have: a 422 (the schema cannot know the request's approvers).
        if let approver = body?.approver, !found.approvers.contains(where: { $0.lowercased() == approver.lowercased() }) {
            let message = "is not an approver of \(requestId) (\(found.approvers.joined(separator: ", ")))"
            throw Problem(
                type: "https://greenlight.dev/problems/not-an-approver", title: "Not an approver", status: 422,
                detail: "approver: \(message)", errors: [.init(field: "approver", message: message)])
        }
        let event = ResendRequested(requestId: requestId, approver: body?.approver, requestedAt: now(), apiKey: key?.name)
        let publication = try await queue(event, trace: request.trace, plan: await plan.value, what: "resend")
        return try .json(Self.accepted("Resend accepted", requestId: requestId, publication), status: .accepted)
    }

    /// Decodes a small JSON body; nil when there is none. A malformed one is a 400 naming the field.
    static func optionalBody<Body: Decodable>(_ type: Body.Type, of request: Request) async throws -> Body? {
        var request = request
        let buffer = try await request.collectBody(upTo: 16 * 1024)
        guard buffer.readableBytes > 0 else { return nil }
        do {
            let body = try GreenlightJSON.decode(Body.self, from: Data(buffer: buffer))
            try refuseNulls(in: Data(buffer: buffer), fieldsOf: body)
            return body
        } catch let error as DecodingError {
            let description = DecodingErrorDescription(error)
            throw Problem.validation([
                .init(field: description.field.isEmpty ? "body" : description.field, message: description.problem)
            ])
        }
    }

    /// The request, which must still be pending (a 409 naming its state otherwise).
    @discardableResult
    private func lookUpPending(_ requestId: String, context: GreenlightRequestContext) async throws -> RequestStatusBody {
        let found = try await lookUp(requestId, context: context)
        guard found.status == .pending else {
            throw Problem(
                title: "Conflict", status: 409, detail: "Request \(requestId) is already \(found.status.rawValue).")
        }
        return found
    }

    /// Publishes a command for a request (as `plan` says, when it was read alongside the request's look-up); one
    /// that is neither acknowledged nor stored is a 503.
    func queue<Event: GreenlightEvent>(_ event: Event, trace: TraceContext, plan: PublishingPlan? = nil, what: String)
        async throws -> Publication
    {
        do {
            guard let plan else { return try await publisher.publish(event, trace: trace) }
            return try await publisher.publish(event, trace: trace, plan: plan)
        } catch {
            throw Problem(title: "Service Unavailable", status: 503, detail: "The \(what) could not be queued. Retry shortly.")
        }
    }

    /// The 202 body; a queued event says so (it takes effect once the message broker is back).
    static func accepted(_ message: String, requestId: String, _ publication: Publication) -> RequestAccepted {
        let statusUrl = "/v1/requests/\(requestId)"
        guard publication == .queued else { return RequestAccepted(message: message, requestId: requestId, statusUrl: statusUrl) }
        return RequestAccepted(
            message: "\(message); the message broker is unreachable, so it takes effect as soon as the broker is back",
            requestId: requestId, statusUrl: statusUrl, queued: true)
    }


    func lookUp(_ requestId: String, context: GreenlightRequestContext) async throws -> RequestStatusBody {
        guard let found = try await reading(context, { try await statuses.status(requestId: requestId) }) else {
            throw Self.notFound(requestId)
        }
        return found
    }

    /// Runs a read within its share of the answer's time, turning store failures into a 503 problem.
    func reading<T: Sendable>(_ context: GreenlightRequestContext, _ body: @escaping @Sendable () async throws -> T)
        async throws -> T
    {
        do {
            return try await withDeadline(readBudget, "Reading the status store", body)
        } catch {
            context.logger.error("Status look-up failed", metadata: ["error": "\(error)"])
            throw Problem(
                title: "Service Unavailable", status: 503, detail: "The status store is not reachable. Retry shortly.")
        }
    }

    private static let nullLiteral = Data("null".utf8)

    /// A field of the body sent as `null` is refused, naming it: no field of the API is nullable (a field not meant
    /// is left out), and taking null for absent would accept what the published schema refuses. The body's fields are
    /// its type's stored properties (synthesized `Codable`: the same names); members it does not know are ignored,
    /// whatever their value, as the schemas allow. A body without the letters `null` anywhere has no null member and
    /// is not read a second time (that second read was 9% of intake's CPU in a profile at 78 submissions a second).
    static func refuseNulls(in data: Data, fieldsOf body: some Decodable) throws {
        guard data.range(of: nullLiteral) != nil,
            case .object(let members)? = try? GreenlightJSON.decode(JSONValue.self, from: data)
        else {
            return
        }
        let fields = Set(Mirror(reflecting: body).children.compactMap(\.label))
        let nulls = members.filter { $0.value == .null && fields.contains($0.key) }.keys.sorted()
        guard nulls.isEmpty else {
            throw Problem.validation(nulls.map { .init(field: $0, message: "must not be null; leave it out instead") })
        }
    }

    static func notFound(_ requestId: String) -> Problem {
        Problem(
            title: "Not Found", status: 404,
            detail: "No request with id \(requestId). A request accepted moments ago may take a moment to appear.")
    }

    /// Decodes and validates a submission; throws a `Problem` naming each bad field.
    /// Four eyes: the requester (an email address) may not be among those who decide, named or by default.
    static func checkFourEyes(_ request: ValidatedApprovalRequest) throws {
        guard let requester = request.requester, EmailAddress.isValid(requester) else { return }
        let deciders = request.approvers.enumerated().map { ("approvers[\($0.offset)]", $0.element) }
            + request.escalateTo.enumerated().map { ("escalateTo[\($0.offset)]", $0.element) }
        guard let (field, _) = deciders.first(where: { $0.1.lowercased() == requester.lowercased() }) else { return }
        throw Problem(
            type: "https://greenlight.dev/problems/four-eyes", title: "Requester cannot approve", status: 422,
            detail: "\(requester) requested this and is also asked to decide it (\(field)"
                + (field.hasPrefix("approvers") && request.approvers.count == 1 ? ", perhaps as the default approver" : "")
                + "): name someone else, or set GREENLIGHT_FOUR_EYES=false to allow it.",
            errors: [.init(field: field, message: "is the requester, who cannot decide their own request")])
    }

    static func parse(_ data: Data, defaultApprover: String, defaultChannel: NotificationChannel = .email) throws
        -> ValidatedApprovalRequest
    {
        let body: ApprovalRequestBody
        do {
            body = try GreenlightJSON.decode(ApprovalRequestBody.self, from: data)
        } catch let error as DecodingError {
            let description = DecodingErrorDescription(error)
            if description.field.isEmpty {
                throw Problem(
                    type: "https://greenlight.dev/problems/malformed-json", title: "Malformed JSON", status: 400,
                    detail: "The body must be a JSON object such as {\"requestId\": \"REQ-001\", \"amount\": 5000, "
                        + "\"description\": \"New server purchase\"}.")
            }
            throw Problem.validation([.init(field: description.field, message: description.problem)])
        }
        try refuseNulls(in: data, fieldsOf: body)
        switch body.validate(defaultApprover: defaultApprover, defaultChannel: defaultChannel) {
        case .success(let validated): return validated
        case .failure(let problem): throw problem
        }
    }
}
