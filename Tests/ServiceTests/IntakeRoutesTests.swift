import DurableExecution
import Foundation
import GreenlightModels
import Hummingbird
import HummingbirdTesting
import Intake
import ServiceSupport
import Synchronization
import Testing

/// Records what would have been published, and the plans it was published by.
final class RecordingPublisher: EventPublishing {
    let events = Mutex<[any GreenlightEvent]>([])
    let traces = Mutex<[TraceContext]>([])
    let plans = Mutex<[PublishingPlan]>([])
    /// The keys plans were read for (nil: for the topic).
    let plannedKeys = Mutex<[String?]>([])
    let failure: (any Error)?
    /// What `plan` reads (nothing, by default).
    let planning: @Sendable () async -> PublishingPlan

    init(failure: (any Error)? = nil, planning: @escaping @Sendable () async -> PublishingPlan = { .direct }) {
        self.failure = failure
        self.planning = planning
    }

    func publish<Event: GreenlightEvent>(_ event: Event, trace: TraceContext) async throws -> Publication {
        if let failure { throw failure }
        events.withLock { $0.append(event) }
        traces.withLock { $0.append(trace) }
        return .published
    }

    func plan<Event: GreenlightEvent>(_ type: Event.Type, key: String?) async -> PublishingPlan {
        plannedKeys.withLock { $0.append(key) }
        return await planning()
    }

    func publish<Event: GreenlightEvent>(_ event: Event, trace: TraceContext, plan: PublishingPlan) async throws
        -> Publication
    {
        plans.withLock { $0.append(plan) }
        return try await publish(event, trace: trace)
    }

    func published<Event: GreenlightEvent>(_ type: Event.Type) -> [Event] {
        events.withLock { $0.compactMap { $0 as? Event } }
    }
}

struct FixedStatuses: ApprovalStatusReading {
    var known: [String: RequestStatusBody] = [:]
    var histories: [String: [HistoryEvent]] = [:]
    var callbacks: [String: [UUID]] = [:]
    var failing = false
    /// Runs before each status look-up answers.
    var reading: @Sendable () async -> Void = {}

    func status(requestId: String) async throws -> RequestStatusBody? {
        await reading()
        if failing { throw CancellationError() }
        return known[requestId]
    }

    func history(requestId: String) async throws -> [HistoryEvent]? {
        if failing { throw CancellationError() }
        return histories[requestId]
    }

    func callbackIds(requestId: String) async throws -> [UUID] {
        callbacks[requestId] ?? []
    }

    func pending(submittedBefore: Date?, limit: Int) async throws -> [RequestStatusBody] {
        Array(
            known.values.filter { $0.status == .pending && $0.submittedAt < (submittedBefore ?? .distantFuture) }
                .sorted { $0.submittedAt < $1.submittedAt }.prefix(limit))
    }
}

struct IntakeRoutesTests {
    static let key = "test-key-0123456789abcdef"

    /// The legacy bare key, allowed every scope.
    static let keyed = APIKeys([Self.key])

    /// Tests about something other than keys run with the API open (`GREENLIGHT_INTAKE_AUTH=none`).
    func app(
        _ publisher: RecordingPublisher, statuses: FixedStatuses = FixedStatuses(), fourEyes: Bool = true,
        keys: APIKeys = APIKeys([], open: true), submitLimiter: RateLimiter? = nil, recipientLimiter: RateLimiter? = nil,
        readBudget: Duration? = nil
    ) -> some ApplicationProtocol {
        let router = Router(context: GreenlightRequestContext.self)
        router.add(middleware: ProblemMiddleware())
        var routes = IntakeRoutes(
            publisher: publisher, statuses: statuses, defaultApprover: "boss@example.com", apiKeys: keys,
            fourEyes: fourEyes, submitLimiter: submitLimiter, recipientLimiter: recipientLimiter,
            now: { Date(timeIntervalSince1970: 1_800_000_000) })
        if let readBudget {
            routes.optionalReadBudget = readBudget
            routes.readBudget = readBudget
        }
        routes.register(on: router)
        return Application(router: router)
    }

    /// Four eyes at intake: a requester among the approvers (named, escalated to, or the default approver) is a 422
    /// naming the field, and nothing is published; with GREENLIGHT_FOUR_EYES=false it is accepted.
    @Test func aRequesterAmongTheApproversIsRefused() async throws {
        let bodies = [
            (#"{"requestId": "R-1", "amount": 1, "description": "d", "requester": "Ann@example.com", "approvers": ["x@example.com", "ann@example.com"]}"#, "approvers[1]"),
            (#"{"requestId": "R-2", "amount": 1, "description": "d", "requester": "ann@example.com", "approvers": ["x@example.com"], "escalateAfterSeconds": 60, "escalateTo": ["ann@example.com"]}"#, "escalateTo[0]"),
            (#"{"requestId": "R-3", "amount": 1, "description": "d", "requester": "boss@example.com"}"#, "approvers[0]"),
        ]
        let publisher = RecordingPublisher()
        try await app(publisher).test(.router) { client in
            for (body, field) in bodies {
                try await client.execute(
                    uri: "/v1/requests", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)
                ) { response in
                    #expect(response.status == .unprocessableContent)
                    let problem = try JSONDecoder().decode(Problem.self, from: Data(buffer: response.body))
                    #expect(problem.errors?.map(\.field) == [field])
                    #expect(problem.detail.contains("GREENLIGHT_FOUR_EYES"))
                }
            }
        }
        #expect(publisher.events.withLock { $0.isEmpty })
        let allowed = RecordingPublisher()
        try await app(allowed, fourEyes: false).test(.router) { client in
            try await client.execute(
                uri: "/v1/requests", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: bodies[0].0)
            ) { response in
                #expect(response.status == .accepted)
            }
        }
    }

    @Test func acceptedRequestIsPublishedOnce() async throws {
        let publisher = RecordingPublisher()
        try await app(publisher).test(.router) { client in
            try await client.execute(
                uri: "/v1/requests", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"requestId": "REQ-9", "amount": 5000, "description": "Server"}"#)
            ) { response in
                #expect(response.status == .accepted)
                #expect(response.headers[.location] == "/v1/requests/REQ-9")
                let body = try GreenlightJSON.decode(RequestAccepted.self, from: Data(buffer: response.body))
                #expect(body.message == "Request accepted")
            }
        }
        let events = publisher.published(ApprovalRequested.self)
        #expect(events.count == 1)
        #expect(events.first?.requestId == "REQ-9")
        #expect(events.first?.approvers == ["boss@example.com"])
        #expect(events.first?.submittedAt == Date(timeIntervalSince1970: 1_800_000_000))
    }

    @Test func invalidRequestsPublishNothing() async throws {
        let publisher = RecordingPublisher()
        try await app(publisher).test(.router) { client in
            for body in ["[]", "{", #"{"requestId": "R", "amount": -1, "description": "d"}"#] {
                try await client.execute(
                    uri: "/v1/requests", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: body)
                ) { response in
                    #expect(response.status == .badRequest, "\(body)")
                    #expect(response.headers[.contentType] == "application/problem+json")
                }
            }
            try await client.execute(
                uri: "/v1/requests", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "x")
            ) { response in
                #expect(response.status == .unsupportedMediaType)
            }
        }
        #expect(publisher.events.withLock { $0.isEmpty })
    }

    /// A 503 sends nothing, so it costs the recipients none of their allowance: the retries are 503s, not 429s.
    @Test func brokerFailureIsA503() async throws {
        let publisher = RecordingPublisher(failure: CancellationError())
        let frozen = ContinuousClock.now
        let limiter = RateLimiter(1, per: .seconds(3600), clock: { frozen })
        try await app(publisher, recipientLimiter: limiter).test(.router) { client in
            for _ in 0..<3 {
                try await client.execute(
                    uri: "/requests", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: #"{"requestId": "R", "amount": 1, "description": "d"}"#)
                ) { response in
                    #expect(response.status == .serviceUnavailable)
                    let problem = try GreenlightJSON.decode(Problem.self, from: Data(buffer: response.body))
                    #expect(problem.detail.contains("Retry"))
                }
            }
        }
    }

    @Test func statusIsReadAndUnknownIdsAre404() async throws {
        let known = RequestStatusBody(
            requestId: "REQ-1", executionId: UUID(), status: .approved, amount: 1, currency: "USD", description: "d",
            requester: nil, approvers: ["a@example.com"], submittedAt: Date(), expiresAt: Date(),
            decidedBy: "a@example.com", decidedAt: Date(), channel: .link, comment: nil, completedAt: Date())
        try await app(RecordingPublisher(), statuses: FixedStatuses(known: ["REQ-1": known])).test(.router) { client in
            try await client.execute(uri: "/v1/requests/REQ-1", method: .get) { response in
                #expect(response.status == .ok)
                let body = try GreenlightJSON.decode(RequestStatusBody.self, from: Data(buffer: response.body))
                #expect(body.status == .approved)
                #expect(body.decidedBy == "a@example.com")
            }
            try await client.execute(uri: "/v1/requests/REQ-2", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
            }
        }
        try await app(RecordingPublisher(), statuses: FixedStatuses(failing: true)).test(.router) { client in
            try await client.execute(uri: "/v1/requests/REQ-1", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
            }
        }
    }

    func status(_ status: ApprovalStatus) -> RequestStatusBody {
        RequestStatusBody(
            requestId: "REQ-1", executionId: UUID(), status: status, amount: 1, currency: "USD", description: "d",
            requester: nil, approvers: ["a@example.com"], submittedAt: Date(), expiresAt: Date(), decidedBy: nil,
            decidedAt: nil, channel: nil, comment: nil, completedAt: nil)
    }

    @Test func historyIsServedInOrder() async throws {
        let events = [
            HistoryEvent(id: 1, type: "ExecutionStarted", timestamp: Date(), details: [:]),
            HistoryEvent(id: 2, type: "CallbackStarted", timestamp: Date(), details: ["Timeout": .number(60)]),
        ]
        let statuses = FixedStatuses(histories: ["REQ-1": events])
        try await app(RecordingPublisher(), statuses: statuses).test(.router) { client in
            try await client.execute(uri: "/v1/requests/REQ-1/history", method: .get) { response in
                #expect(response.status == .ok)
                let body = try GreenlightJSON.decode(HistoryBody.self, from: Data(buffer: response.body))
                #expect(body.events.map(\.type) == ["ExecutionStarted", "CallbackStarted"])
                #expect(body.events[1].details["Timeout"] == .number(60))
            }
            try await client.execute(uri: "/v1/requests/REQ-2/history", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test func callbackIdsAndCancellationNeedAnAPIKey() async throws {
        let callbackId = UUID()
        let publisher = RecordingPublisher()
        let statuses = FixedStatuses(known: ["REQ-1": status(.pending), "REQ-D": status(.approved)], callbacks: ["REQ-1": [callbackId]])
        try await app(publisher, statuses: statuses, keys: Self.keyed).test(.router) { client in
            try await client.execute(uri: "/v1/requests/REQ-1", method: .get) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(
                uri: "/v1/requests/REQ-1", method: .get, headers: [.authorization: "Bearer \(Self.key)"]
            ) { response in
                let body = try GreenlightJSON.decode(RequestStatusBody.self, from: Data(buffer: response.body))
                #expect(body.callbackIds == [callbackId])
            }
            try await client.execute(uri: "/v1/requests/REQ-1/cancel", method: .post) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(
                uri: "/v1/requests/REQ-1/cancel", method: .post, headers: [.authorization: "Bearer wrong-key-0123456789"]
            ) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(
                uri: "/v1/requests/REQ-D/cancel", method: .post, headers: [.authorization: "Bearer \(Self.key)"]
            ) { response in
                #expect(response.status == .conflict)
            }
            try await client.execute(
                uri: "/v1/requests/REQ-1/cancel", method: .post, headers: [.authorization: "Bearer \(Self.key)"]
            ) { response in
                #expect(response.status == .accepted)
            }
        }
        #expect(publisher.published(CancelRequested.self).map(\.requestId) == ["REQ-1"])
    }

    @Test func pendingListNeedsAKeyAndFiltersByAge() async throws {
        var old = status(.pending)
        old.requestId = "REQ-OLD"
        // The app's clock reads 1_800_000_000.
        old.submittedAt = Date(timeIntervalSince1970: 1_800_000_000 - 7200)
        var recent = status(.pending)
        recent.requestId = "REQ-NEW"
        recent.submittedAt = Date(timeIntervalSince1970: 1_800_000_000 - 60)
        let statuses = FixedStatuses(known: ["REQ-OLD": old, "REQ-NEW": recent, "REQ-D": status(.approved)])
        let auth: HTTPFields = [.authorization: "Bearer \(Self.key)"]
        try await app(RecordingPublisher(), statuses: statuses, keys: Self.keyed).test(.router) { client in
            try await client.execute(uri: "/v1/requests?status=pending", method: .get) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/v1/requests?status=pending", method: .get, headers: auth) { response in
                let body = try GreenlightJSON.decode(RequestListBody.self, from: Data(buffer: response.body))
                #expect(body.requests.map(\.requestId) == ["REQ-OLD", "REQ-NEW"])
            }
            try await client.execute(
                uri: "/v1/requests?status=pending&olderThanSeconds=3600", method: .get, headers: auth
            ) { response in
                let body = try GreenlightJSON.decode(RequestListBody.self, from: Data(buffer: response.body))
                #expect(body.requests.map(\.requestId) == ["REQ-OLD"])
            }
            try await client.execute(
                uri: "/v1/requests?status=approved&limit=0&olderThanSeconds=soon", method: .get, headers: auth
            ) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("status"))
            }
            try await client.execute(
                uri: "/v1/requests?status=pending&limit=0&olderThanSeconds=soon", method: .get, headers: auth
            ) { response in
                let problem = try GreenlightJSON.decode(Problem.self, from: Data(buffer: response.body))
                #expect(problem.errors?.map(\.field) == ["olderThanSeconds", "limit"])
            }
        }
    }

    @Test func decisionThroughTheAPIIsPublishedLikeAClick() async throws {
        let publisher = RecordingPublisher()
        let statuses = FixedStatuses(known: ["REQ-1": status(.pending), "REQ-D": status(.approved)])
        let auth: HTTPFields = [.authorization: "Bearer \(Self.key)", .contentType: "application/json"]
        let body = #"{"decision": "reject", "decidedBy": "ops@example.com", "comment": "Over budget"}"#
        try await app(publisher, statuses: statuses, keys: Self.keyed).test(.router) { client in
            try await client.execute(uri: "/v1/requests/REQ-1/decision", method: .post, body: ByteBuffer(string: body)) {
                #expect($0.status == .unauthorized)
            }
            try await client.execute(
                uri: "/v1/requests/REQ-1/decision", method: .post, headers: auth,
                body: ByteBuffer(string: #"{"decision": "maybe", "decidedBy": "x"}"#)
            ) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("decision"))
            }
            try await client.execute(
                uri: "/v1/requests/REQ-1/decision", method: .post, headers: auth,
                body: ByteBuffer(string: #"{"decision": "approve", "decidedBy": "  "}"#)
            ) { #expect($0.status == .badRequest) }
            try await client.execute(
                uri: "/v1/requests/REQ-D/decision", method: .post, headers: auth, body: ByteBuffer(string: body)
            ) { #expect($0.status == .conflict) }
            try await client.execute(
                uri: "/v1/requests/REQ-X/decision", method: .post, headers: auth, body: ByteBuffer(string: body)
            ) { #expect($0.status == .notFound) }
            try await client.execute(
                uri: "/v1/requests/REQ-1/decision", method: .post, headers: auth, body: ByteBuffer(string: body)
            ) { #expect($0.status == .accepted) }
            try await client.execute(
                uri: "/v1/requests/REQ-1/cancel", method: .post, headers: auth,
                body: ByteBuffer(string: #"{"reason": "duplicate of REQ-0"}"#)
            ) { #expect($0.status == .accepted) }
        }
        let decision = try #require(publisher.published(DecisionSubmitted.self).first)
        #expect(decision.requestId == "REQ-1")
        #expect(decision.decision == .reject)
        #expect(decision.decidedBy == "ops@example.com")
        #expect(decision.channel == .api)
        #expect(decision.comment == "Over budget")
        #expect(decision.tokenHash == nil)
        #expect(publisher.published(CancelRequested.self).first?.reason == "duplicate of REQ-0")
    }

    /// The request's look-up and what the publisher reads before it sends (the outbox) run together: each waits
    /// here until the other has begun, so read one after the other, neither would see the other begin.
    @Test func theLookUpAndThePublishersPlanAreReadTogether() async throws {
        // Long enough for a loaded machine to start both (800 ms was not, under the whole suite on two cores), and
        // less than the look-up's budget, raised here from its second: run one after the other, the first party
        // gives up, and the test fails, only later.
        let both = Rendezvous(within: .seconds(20))
        let publisher = RecordingPublisher(planning: { await both.arrive("plan") ? .behindQueued : .direct })
        var statuses = FixedStatuses(known: ["REQ-1": status(.pending)])
        statuses.reading = { _ = await both.arrive("look-up") }
        let auth: HTTPFields = [.contentType: "application/json"]
        try await app(publisher, statuses: statuses, readBudget: .seconds(30)).test(.router) { client in
            try await client.execute(
                uri: "/v1/requests", method: .post, headers: auth,
                body: ByteBuffer(string: #"{"requestId": "REQ-2", "amount": 1, "description": "d"}"#)
            ) { #expect($0.status == .accepted) }
            both.reset()
            try await client.execute(
                uri: "/v1/requests/REQ-1/decision", method: .post, headers: auth,
                body: ByteBuffer(string: #"{"decision": "approve", "decidedBy": "ops@example.com"}"#)
            ) { #expect($0.status == .accepted) }
        }
        // Each plan saw the look-up begin, and each publication went as that plan said.
        #expect(publisher.plans.withLock { $0 } == [.behindQueued, .behindQueued])
        #expect(publisher.plannedKeys.withLock { $0 } == ["REQ-2", "REQ-1"])
        #expect(publisher.published(ApprovalRequested.self).map(\.requestId) == ["REQ-2"])
        #expect(publisher.published(DecisionSubmitted.self).map(\.requestId) == ["REQ-1"])
    }

    /// A request already accepted is answered at once, and the plan read beside its look-up is left to finish, not
    /// cancelled (cancelling a statement in flight costs the database a cancel request on a connection of its own).
    @Test func aPlanIsLeftToFinishWhenTheAnswerNeedsNoPublishing() async throws {
        let finished = AsyncStream.makeStream(of: Bool.self)
        let publisher = RecordingPublisher(planning: {
            try? await Task.sleep(for: .milliseconds(100))
            finished.continuation.yield(Task.isCancelled)
            return .direct
        })
        let statuses = FixedStatuses(known: ["REQ-1": status(.pending)])
        try await app(publisher, statuses: statuses).test(.router) { client in
            try await client.execute(
                uri: "/v1/requests", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"requestId": "REQ-1", "amount": 1, "description": "d"}"#)
            ) { #expect($0.status == .ok) }
        }
        let cancelled = try await withDeadline(.seconds(5), "Waiting for the plan to finish") {
            var results = finished.stream.makeAsyncIterator()
            return await results.next()
        }
        #expect(cancelled == false)
        #expect(publisher.events.withLock { $0.isEmpty })
    }

    @Test func resendNeedsAKeyAPendingRequestAndOneOfItsApprovers() async throws {
        let publisher = RecordingPublisher()
        let statuses = FixedStatuses(known: ["REQ-1": status(.pending), "REQ-D": status(.approved)])
        let auth: HTTPFields = [.authorization: "Bearer \(Self.key)", .contentType: "application/json"]
        try await app(publisher, statuses: statuses, keys: Self.keyed).test(.router) { client in
            func resend(_ id: String, headers: HTTPFields = [:], body: String? = nil) async throws -> HTTPResponse.Status {
                try await client.execute(
                    uri: "/v1/requests/\(id)/resend", method: .post, headers: headers, body: body.map { ByteBuffer(string: $0) }
                ).status
            }
            let answers = [
                try await resend("REQ-1"), try await resend("REQ-X", headers: auth), try await resend("REQ-D", headers: auth),
                try await resend("REQ-1", headers: auth, body: #"{"approver": "stranger@example.com"}"#),
                try await resend("REQ-1", headers: auth),
            ]
            #expect(answers == [.unauthorized, .notFound, .conflict, .unprocessableContent, .accepted])
        }
        #expect(publisher.published(ResendRequested.self).map(\.requestId) == ["REQ-1"])
    }

    /// Named, scoped keys: no key or an unknown one is a 401 problem (with `WWW-Authenticate`), a key without the
    /// route's scope a 403 naming the key and the scope; `admin` may do everything; each action carries the name of
    /// the key that made it.
    @Test func everyRouteNeedsAKeyWithItsScope() async throws {
        let keys = try APIKeys(
            APIKeys.parse(
                """
                # one per line, as in a file
                ci:submit:ci-secret-0123456789
                dashboard:read:dashboard-secret-0123456789
                bot:decide+read:bot-secret-0123456789
                ops:admin:ops-secret-0123456789
                """))
        let publisher = RecordingPublisher()
        let statuses = FixedStatuses(known: ["REQ-1": status(.pending)])
        let submit = #"{"requestId": "REQ-9", "amount": 1, "description": "d"}"#
        let decide = #"{"decision": "approve", "decidedBy": "a@example.com"}"#
        let routes: [(String, HTTPRequest.Method, String?)] = [
            ("/v1/requests", .post, submit), ("/v1/requests/REQ-1", .get, nil), ("/v1/requests/REQ-1/history", .get, nil),
            ("/v1/requests?status=pending", .get, nil), ("/v1/requests/REQ-1/decision", .post, decide),
            ("/v1/requests/REQ-1/cancel", .post, nil), ("/v1/requests/REQ-1/resend", .post, nil),
        ]
        // The answer each key gets on each route, in the order above (404: allowed, and REQ-1 has no history here).
        let expected: [(String?, [Int])] = [
            (nil, [401, 401, 401, 401, 401, 401, 401]),
            ("wrong-secret-0123456789", [401, 401, 401, 401, 401, 401, 401]),
            ("ci-secret-0123456789", [202, 403, 403, 403, 403, 403, 403]),
            ("dashboard-secret-0123456789", [403, 200, 404, 200, 403, 403, 403]),
            ("bot-secret-0123456789", [403, 200, 404, 200, 202, 403, 403]),
            ("ops-secret-0123456789", [202, 200, 404, 200, 202, 202, 202]),
        ]
        try await app(publisher, statuses: statuses, keys: keys).test(.router) { client in
            for (secret, answers) in expected {
                var headers: HTTPFields = [.contentType: "application/json"]
                if let secret { headers[.authorization] = "Bearer \(secret)" }
                var got: [Int] = []
                for (uri, method, body) in routes {
                    let response = try await client.execute(
                        uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
                    got.append(Int(response.status.code))
                    if response.status == .unauthorized {
                        #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                        let problem = try GreenlightJSON.decode(Problem.self, from: Data(buffer: response.body))
                        #expect(problem.detail.contains("Authorization: Bearer"))
                    }
                    if response.status == .forbidden {
                        let problem = try GreenlightJSON.decode(Problem.self, from: Data(buffer: response.body))
                        #expect(problem.detail.contains("scope") && problem.detail.contains("\""), "\(problem.detail)")
                    }
                }
                #expect(got == answers, "key \(secret ?? "none")")
            }
            let forbidden = try await client.execute(
                uri: "/v1/requests/REQ-1/cancel", method: .post, headers: [.authorization: "Bearer bot-secret-0123456789"])
            let problem = try GreenlightJSON.decode(Problem.self, from: Data(buffer: forbidden.body))
            #expect(problem.detail.contains("\"bot\"") && problem.detail.contains("admin scope"), "\(problem.detail)")
        }
        // Each action names the key it came through.
        #expect(publisher.published(DecisionSubmitted.self).map(\.apiKey) == ["bot", "ops"])
        #expect(publisher.published(CancelRequested.self).map(\.apiKey) == ["ops"])
        #expect(publisher.published(ResendRequested.self).map(\.apiKey) == ["ops"])
        #expect(publisher.published(ApprovalRequested.self).count == 2)
    }

    /// Deliberately open (`GREENLIGHT_INTAKE_AUTH=none`): no key needed, and none recorded.
    @Test func anOpenAPINeedsNoKey() async throws {
        let publisher = RecordingPublisher()
        let statuses = FixedStatuses(known: ["REQ-1": status(.pending)])
        try await app(publisher, statuses: statuses, keys: APIKeys([], open: true)).test(.router) { client in
            let read = try await client.execute(uri: "/v1/requests/REQ-1", method: .get)
            #expect(read.status == .ok)
            let decided = try await client.execute(
                uri: "/v1/requests/REQ-1/decision", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"decision": "approve", "decidedBy": "a@example.com"}"#))
            #expect(decided.status == .accepted)
        }
        #expect(publisher.published(DecisionSubmitted.self).map(\.apiKey) == [nil])
    }

    /// Abuse limits: submissions per key a minute, and requests per recipient an hour, each a 429 problem with
    /// `Retry-After`; a request refused for one recipient takes nothing from the others' allowance.
    @Test func submissionsPerKeyAndEmailsPerRecipientAreLimited() async throws {
        let frozen = ContinuousClock.now
        let keys = APIKeys([
            APIKey(name: "ci", scopes: [.submit], secret: "ci-secret-0123456789"),
            APIKey(name: "other", scopes: [.submit], secret: "other-secret-0123456789"),
        ])
        let publisher = RecordingPublisher()
        let application = app(
            publisher, keys: keys, submitLimiter: RateLimiter(perMinute: 3, clock: { frozen }),
            recipientLimiter: RateLimiter(2, per: .seconds(3600), clock: { frozen }))
        try await application.test(.router) { client in
            func submit(_ id: String, approvers: [String], key: String = "ci-secret-0123456789") async throws -> TestResponse {
                let list = approvers.map { "\"\($0)\"" }.joined(separator: ", ")
                return try await client.execute(
                    uri: "/v1/requests", method: .post,
                    headers: [.contentType: "application/json", .authorization: "Bearer \(key)"],
                    body: ByteBuffer(string: #"{"requestId": "\#(id)", "amount": 1, "description": "d", "approvers": [\#(list)]}"#))
            }
            #expect(try await submit("R-1", approvers: ["a@example.com"]).status == .accepted)
            #expect(try await submit("R-2", approvers: ["A@example.com", "b@example.com"]).status == .accepted)
            // a@ has had two: a request naming a@ and c@ is refused whole, and c@ keeps its allowance.
            let refused = try await submit("R-3", approvers: ["c@example.com", "a@example.com"])
            #expect(refused.status == .tooManyRequests)
            #expect(Int(refused.headers[.retryAfter] ?? "") ?? 0 >= 1)
            let problem = try GreenlightJSON.decode(Problem.self, from: Data(buffer: refused.body))
            #expect(problem.detail.contains("GREENLIGHT_RECIPIENT_RATE_LIMIT"), "\(problem.detail)")
            // The key's third submission this minute was R-3; its fourth is refused whatever it names.
            let fourth = try await submit("R-4", approvers: ["c@example.com"])
            #expect(fourth.status == .tooManyRequests)
            #expect(String(buffer: fourth.body).contains("GREENLIGHT_SUBMIT_RATE_LIMIT"))
            #expect(String(buffer: fourth.body).contains("key ci"))
            // Another key has its own allowance, and c@ still has both of its.
            #expect(try await submit("R-5", approvers: ["c@example.com"], key: "other-secret-0123456789").status == .accepted)
            #expect(try await submit("R-6", approvers: ["c@example.com"], key: "other-secret-0123456789").status == .accepted)
        }
        #expect(publisher.published(ApprovalRequested.self).map(\.requestId) == ["R-1", "R-2", "R-5", "R-6"])
    }
}

/// Two parties that each wait, up to `within`, for the other to be waiting too: `arrive` answers whether it was.
/// A party that gives up leaves, so one that comes after it finds no one.
final class Rendezvous: Sendable {
    let within: Duration
    let waiting = Mutex<Set<String>>([])
    let met = Mutex<Bool>(false)

    init(within: Duration) {
        self.within = within
    }

    func arrive(_ party: String) async -> Bool {
        waiting.withLock { _ = $0.insert(party) }
        defer { waiting.withLock { _ = $0.remove(party) } }
        let clock = ContinuousClock()
        let end = clock.now + within
        while clock.now < end, !Task.isCancelled {
            if waiting.withLock({ $0.contains { $0 != party } }) { met.withLock { $0 = true } }
            if met.withLock({ $0 }) { return true }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return false
    }

    /// For the next pair.
    func reset() {
        met.withLock { $0 = false }
    }
}
