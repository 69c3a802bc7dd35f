import ApprovalStore
import Foundation
import GreenlightModels
import Hummingbird
import Metrics
import Postgres
import ServiceSupport

/// `GET /v1/requests/{requestId}/outcome?wait=N`: a request's status once it has ended, waiting up to N seconds for
/// that (a long-poll), so that a script or an agent can block on an approval over plain HTTP. The answer comes as soon
/// as the orchestrator records the outcome: the wait is a subscription to `OutcomeChannel` on a `PostgresListener`,
/// not a loop of reads.
extension IntakeRoutes {
    /// The longest wait a client may ask for, in seconds.
    public static let maxWaitSeconds = 60

    public func registerOutcome(on router: Router<GreenlightRequestContext>, listener: PostgresListener) {
        router.get("v1/requests/:requestId/outcome") { request, context in
            try await outcome(context.parameters.require("requestId"), listener: listener, request: request, context: context)
        }
    }

    /// 200 with the status once the request has ended; 202 with it (still pending, `Retry-After: 1`) when the wait
    /// ran out first; 404 for an unknown request; 503 when `listener` has as many waiters as it may.
    func outcome(_ requestId: String, listener: PostgresListener, request: Request, context: GreenlightRequestContext)
        async throws -> Response
    {
        try apiKeys.require(.read, request)
        let wait = try Self.waitSeconds(request.uri.queryParameters.get("wait"))
        guard wait > 0 else { return try await answer(try await lookUp(requestId, context: context), context: context) }
        let found: RequestStatusBody
        let waiters = Gauge(label: "greenlight_outcome_waiters")
        defer { waiters.record(listener.subscriptionCount) }
        // Watching for the client's disconnect consumes the connection: every answer after that closes it, and says so.
        var watched = false
        do {
            found = try await listener.withSubscription(to: requestId) { subscription in
                waiters.record(listener.subscriptionCount)
                // Read after subscribing: an end committed meanwhile is either read here or notified.
                let first = try await lookUp(requestId, context: context)
                guard first.status == .pending else { return first }
                watched = true
                return try await request.whileClientWaits {
                    try await waitForEnd(
                        requestId, from: first, within: .seconds(wait), on: subscription, listener: listener, context: context)
                } stop: {
                    subscription.close()
                }
            }
        } catch let problem as Problem where watched {
            return .problem(problem, headers: problem.status == 503 ? [.retryAfter: "5", .connection: "close"] : [.connection: "close"])
        } catch let error as PostgresError where error.code == .tooManySubscriptions {
            context.logger.notice("Long-poll refused: every waiter slot is taken", metadata: ["requestId": "\(requestId)"])
            throw Problem(
                title: "Service Unavailable", status: 503,
                detail: "\(listener.maxSubscriptions) clients are waiting for outcomes already, the most this instance "
                    + "serves (GREENLIGHT_MAX_OUTCOME_WAITERS). Retry shortly, or ask without wait.")
        }
        return try await answer(found, context: context, headers: watched ? [.connection: "close"] : [:])
    }

    /// Reads the status again after every wake, until it is no longer pending or the wait is over.
    private func waitForEnd(
        _ requestId: String, from first: RequestStatusBody, within wait: Duration, on subscription: PostgresSubscription,
        listener: PostgresListener, context: GreenlightRequestContext
    ) async throws -> RequestStatusBody {
        let deadline = ContinuousClock.now + wait
        var found = first
        while found.status == .pending, ContinuousClock.now < deadline {
            // While the listener is down (Postgres away, its connection refused), no notification comes: the wait
            // reads again each second instead, so an outcome recorded meanwhile is answered within a second.
            let listening = listener.isListening
            let left = deadline - ContinuousClock.now
            let wake = await subscription.next(timeout: listening ? left : min(left, .seconds(1)))
            found = try await lookUp(requestId, context: context)
            if wake == .closed || (wake == .timedOut && listening) { break }
        }
        return found
    }

    /// The status body as `GET /v1/requests/{id}` has it: 200 once ended, 202 (`Retry-After: 1`) while pending.
    private func answer(_ found: RequestStatusBody, context: GreenlightRequestContext, headers: HTTPFields = [:])
        async throws -> Response
    {
        var found = found
        let requestId = found.requestId
        found.callbackIds = try await reading(context) { [statuses] in try await statuses.callbackIds(requestId: requestId) }
        guard found.status == .pending else { return try .json(found, headers: headers) }
        var pending = headers
        pending[.retryAfter] = "1"
        return try .json(found, status: .accepted, headers: pending)
    }

    /// `wait`: whole seconds from 0 to `maxWaitSeconds`; 0 when absent.
    static func waitSeconds(_ text: String?) throws -> Int {
        guard let text else { return 0 }
        guard let seconds = Int(text), (0...maxWaitSeconds).contains(seconds) else {
            throw Problem.validation([
                .init(field: "wait", message: "must be a whole number of seconds from 0 to \(maxWaitSeconds)")
            ])
        }
        return seconds
    }
}
