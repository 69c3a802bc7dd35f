import Foundation
import GreenlightModels
import Hummingbird
import HummingbirdTesting
import Intake
import ServiceSupport
import Testing

/// Delegations kept by the orchestrator, as intake reads them.
struct FixedDelegations: DelegationReading {
    var known: [Delegation] = []

    func delegation(approver: String) async throws -> Delegation? {
        known.first { $0.approver.lowercased() == approver.lowercased() }
    }

    func delegations(limit: Int) async throws -> [Delegation] { Array(known.prefix(limit)) }
}

extension IntakeRoutesTests {
    func delegationApp(_ publisher: RecordingPublisher, statuses: FixedStatuses = FixedStatuses(), delegations: FixedDelegations)
        -> some ApplicationProtocol
    {
        let router = Router(context: GreenlightRequestContext.self)
        router.add(middleware: ProblemMiddleware())
        let keys = try! APIKeys(APIKeys.parse("ops:admin:ops-secret-0123456789\nbot:decide+read:bot-secret-0123456789"))
        let routes = IntakeRoutes(
            publisher: publisher, statuses: statuses, defaultApprover: "boss@example.com", apiKeys: keys,
            now: { Date(timeIntervalSince1970: 1_800_000_000) })
        routes.register(on: router)
        routes.registerDelegations(on: router, reader: delegations)
        return Application(router: router)
    }

    /// `PUT/GET/DELETE /v1/delegations/{approver}` need an admin key, check what they can, and publish the change
    /// for the orchestrator (which owns the table); reads come from the table.
    @Test func delegationsAreSetReadAndClearedByAnAdmin() async throws {
        let publisher = RecordingPublisher()
        let kept = Delegation(
            approver: "a@example.com", delegate: "b@example.com", mode: .instead, from: Date(timeIntervalSince1970: 1_700_000_000),
            until: nil, setBy: "ops", setAt: Date(timeIntervalSince1970: 1_700_000_000))
        let admin: HTTPFields = [.authorization: "Bearer ops-secret-0123456789", .contentType: "application/json"]
        let bot: HTTPFields = [.authorization: "Bearer bot-secret-0123456789", .contentType: "application/json"]
        try await delegationApp(publisher, delegations: FixedDelegations(known: [kept])).test(.router) { client in
            func call(_ method: HTTPRequest.Method, _ uri: String, _ headers: HTTPFields, _ body: String? = nil) async throws -> HTTPResponse.Status {
                try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }).status
            }
            let set = #"{"delegate": "c@example.com", "until": "2027-02-01T00:00:00Z", "reason": "holiday"}"#
            #expect(try await call(.put, "/v1/delegations/a@example.com", [:], set) == .unauthorized)
            #expect(try await call(.put, "/v1/delegations/a@example.com", bot, set) == .forbidden)
            #expect(try await call(.put, "/v1/delegations/not-an-address", admin, set) == .badRequest)
            #expect(try await call(.put, "/v1/delegations/a@example.com", admin, #"{"delegate": "A@example.com"}"#) == .unprocessableContent)
            #expect(try await call(.put, "/v1/delegations/a@example.com", admin, #"{"delegate": "c@example.com", "until": "2020-01-01T00:00:00Z"}"#)
                == .unprocessableContent)
            #expect(try await call(.put, "/v1/delegations/a@example.com", admin, #"{"delegate": "c@example.com", "mode": "sometimes"}"#)
                == .badRequest)
            #expect(try await call(.put, "/v1/delegations/a@example.com", admin, set) == .accepted)
            #expect(try await call(.get, "/v1/delegations/a@example.com", admin) == .ok)
            #expect(try await call(.get, "/v1/delegations/z@example.com", admin) == .notFound)
            #expect(try await call(.get, "/v1/delegations", bot) == .forbidden)
            try await client.execute(uri: "/v1/delegations", method: .get, headers: admin) { response in
                let list = try GreenlightJSON.decode(DelegationListBody.self, from: Data(buffer: response.body))
                #expect(list.delegations == [kept])
            }
            #expect(try await call(.delete, "/v1/delegations/A@example.com", admin) == .accepted)
        }
        let published = try #require(publisher.published(DelegationSet.self).first)
        #expect(published.delegation.delegate == "c@example.com" && published.delegation.mode == .also)
        #expect(published.delegation.from == Date(timeIntervalSince1970: 1_800_000_000))
        #expect(published.delegation.setBy == "ops" && published.apiKey == "ops" && published.delegation.reason == "holiday")
        #expect(published.requestId == "delegation:a@example.com")
        #expect(publisher.published(DelegationSet.self).count == 1)
        #expect(publisher.published(DelegationCleared.self).map(\.approver) == ["A@example.com"])
    }

    @Test func reassignNeedsAnAdminAPendingRequestAndOneOfItsUndecidedApprovers() async throws {
        let publisher = RecordingPublisher()
        var pending = status(.pending)
        pending.approvers = ["a@example.com", "c@example.com"]
        pending.votes = [ApprovalVote(approver: "c@example.com", decision: .approve, channel: .link, comment: nil, decidedAt: Date())]
        var decided = status(.approved)
        decided.requestId = "REQ-D"
        let statuses = FixedStatuses(known: ["REQ-1": pending, "REQ-D": decided])
        let admin: HTTPFields = [.authorization: "Bearer ops-secret-0123456789", .contentType: "application/json"]
        try await delegationApp(publisher, statuses: statuses, delegations: FixedDelegations()).test(.router) { client in
            func reassign(_ id: String, _ headers: HTTPFields, _ body: String) async throws -> HTTPResponse.Status {
                try await client.execute(
                    uri: "/v1/requests/\(id)/reassign", method: .post, headers: headers, body: ByteBuffer(string: body)
                ).status
            }
            let move = #"{"from": "A@example.com", "to": "d@example.com", "reason": "left"}"#
            let answers = [
                try await reassign("REQ-1", [:], move), try await reassign("REQ-X", admin, move),
                try await reassign("REQ-D", admin, move),
                try await reassign("REQ-1", admin, #"{"from": "stranger@example.com", "to": "d@example.com"}"#),
                try await reassign("REQ-1", admin, #"{"from": "a@example.com", "to": "C@example.com"}"#),
                try await reassign("REQ-1", admin, #"{"from": "c@example.com", "to": "d@example.com"}"#),
                try await reassign("REQ-1", admin, #"{"from": "a@example.com"}"#),
                try await reassign("REQ-1", admin, move),
            ]
            #expect(answers == [.unauthorized, .notFound, .conflict, .unprocessableContent, .unprocessableContent, .conflict,
                .badRequest, .accepted])
        }
        let events = publisher.published(ReassignRequested.self)
        #expect(events.map { "\($0.requestId) \($0.from)→\($0.to) \($0.reason ?? "") \($0.apiKey ?? "")" } == [
            "REQ-1 A@example.com→d@example.com left ops"
        ])
    }
}
