import Callbacks
import DurableExecution
import Foundation
import GreenlightModels
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServiceSupport
import Testing

struct FixedCallbacks: CallbackReading {
    var records: [UUID: (CallbackRecord, String)] = [:]

    func callback(_ callbackId: UUID) async throws -> (record: CallbackRecord, executionName: String)? {
        records[callbackId].map { ($0.0, $0.1) }
    }
}

/// REQ-1 asks a reason for a rejection and a risk answer.
struct FixedRules: DecisionRulesReading {
    func decisionRules(requestId: String) async throws -> RequestContent? {
        guard requestId == "REQ-1" else { return nil }
        return RequestContent(
            responseSchema: ResponseSchema(
                properties: ["risk": ResponseField(type: .string, enum: [.string("low"), .string("high")])], required: ["risk"]),
            requireReason: .reject)
    }
}

struct CallbackAPIRoutesTests {
    static let key = "callback-key-0123456789"
    let open = UUID()
    let ended = UUID()
    let generic = UUID()

    func record(_ id: UUID, name: String = "wait-for-approval", status: CallbackStatus = .started) -> CallbackRecord {
        CallbackRecord(
            callbackId: id, executionId: UUID(), name: name, status: status, timeoutAt: Date(), heartbeatSeconds: nil,
            heartbeatDueAt: nil, result: status == .succeeded ? #"{"decision":"approved"}"# : nil, error: nil,
            startedAt: Date(), endedAt: status == .started ? nil : Date())
    }

    /// The legacy bare key (every scope), a key that may only read, and a named decider.
    static let keys = APIKeys([
        APIKeys([Self.key]).keys[0], APIKey(name: "dashboard", scopes: [.read], secret: "dashboard-secret-0123456789"),
        APIKey(name: "approval-bot", scopes: [.decide], secret: "bot-secret-0123456789"),
    ])

    func app(_ publisher: RecordingPublisher, rules: (any DecisionRulesReading)? = nil) -> some ApplicationProtocol {
        let callbacks = FixedCallbacks(records: [
            open: (record(open), "REQ-1"), ended: (record(ended, status: .succeeded), "REQ-2"),
            generic: (record(generic, name: "other"), "EXEC-3"),
        ])
        let router = Router(context: GreenlightRequestContext.self)
        router.add(middleware: ProblemMiddleware())
        CallbackAPIRoutes(
            callbacks: callbacks, publisher: publisher, apiKeys: Self.keys, rules: rules,
            now: { Date(timeIntervalSince1970: 1_800_000_000) }
        ).register(on: router)
        return Application(router: router)
    }

    func post(_ client: some TestClientProtocol, _ uri: String, _ body: String = "", key: String? = Self.key) async throws
        -> TestResponse
    {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let key { headers[.authorization] = "Bearer \(key)" }
        return try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    @Test func successDecidesAnApprovalWithTheAPIChannel() async throws {
        let publisher = RecordingPublisher()
        try await app(publisher).test(.router) { client in
            let response = try await post(
                client, "/v1/callbacks/\(open)/success", #"{"decision": "approved", "approver": "bot@example.com", "comment": "ok"}"#)
            #expect(response.status == .accepted)
        }
        let command = try #require(publisher.published(CallbackCommand.self).first)
        #expect(command.requestId == "REQ-1")
        #expect(command.command == .success)
        #expect(command.result?["decision"] == .string("approved"))
        #expect(command.result?["approver"] == .string("bot@example.com"))
        #expect(command.result?["channel"] == .string("api"))
    }

    /// A decision through the approval's callback settles the request at once, so the request's rules are checked
    /// before it is published: 400 naming what is missing, nothing published; a decision that keeps them goes.
    @Test func aDecisionThroughTheCallbackKeepsTheRequestsRules() async throws {
        let publisher = RecordingPublisher()
        try await app(publisher, rules: FixedRules()).test(.router) { client in
            let bare = try await post(client, "/v1/callbacks/\(open)/success", #"{"decision": "rejected", "response": {"risk": "high"}}"#)
            #expect(bare.status == .unprocessableContent)
            #expect(String(buffer: bare.body).contains(#""field":"comment""#))
            let unanswered = try await post(client, "/v1/callbacks/\(open)/success", #"{"decision": "approved"}"#)
            #expect(String(buffer: unanswered.body).contains(#""field":"response.risk""#))
            #expect(publisher.published(CallbackCommand.self).isEmpty)
            let kept = try await post(
                client, "/v1/callbacks/\(open)/success", #"{"decision": "rejected", "comment": "no", "response": {"risk": "high"}}"#)
            #expect(kept.status == .accepted)
        }
        let command = try #require(publisher.published(CallbackCommand.self).first)
        #expect(command.result?["response"] == .object(["risk": .string("high")]))
    }

    @Test func keysUnknownEndedAndBadBodiesAreRefused() async throws {
        let publisher = RecordingPublisher()
        try await app(publisher).test(.router) { client in
            #expect(try await post(client, "/v1/callbacks/\(open)/success", "{}", key: nil).status == .unauthorized)
            #expect(try await post(client, "/v1/callbacks/\(open)/success", "{}", key: "not-the-key-0000000").status == .unauthorized)
            #expect(try await post(client, "/v1/callbacks/\(UUID())/success", "{}").status == .notFound)
            #expect(try await post(client, "/v1/callbacks/not-a-uuid/success", "{}").status == .notFound)
            #expect(try await post(client, "/v1/callbacks/\(open)/explode", "{}").status == .notFound)
            #expect(try await post(client, "/v1/callbacks/\(open)/success", #"{"decision": "aproved"}"#).status == .badRequest)
            #expect(try await post(client, "/v1/callbacks/\(open)/failure", #"{"errorMessage": "x"}"#).status == .badRequest)
            #expect(try await post(client, "/v1/callbacks/\(open)/success", "{nope").status == .badRequest)

            let conflict = try await post(client, "/v1/callbacks/\(ended)/success", #"{"decision": "rejected"}"#)
            #expect(conflict.status == .conflict)
            let body = try GreenlightJSON.decode(CallbackAPIRoutes.EndedCallback.self, from: Data(buffer: conflict.body))
            #expect(body.callbackStatus == "SUCCEEDED")
            #expect(body.result?["decision"] == .string("approved"))
        }
        #expect(publisher.events.withLock { $0.isEmpty })
    }

    @Test func failureAndHeartbeatAreQueuedAndOtherCallbacksTakeAnyJSON() async throws {
        let publisher = RecordingPublisher()
        try await app(publisher).test(.router) { client in
            let heartbeat = try await post(client, "/v1/callbacks/\(open)/heartbeat")
            let failure = try await post(
                client, "/v1/callbacks/\(open)/failure", #"{"errorType": "Review.Blocked", "errorMessage": "legal hold"}"#)
            let success = try await post(client, "/v1/callbacks/\(generic)/success", "[1, 2, 3]")
            #expect([heartbeat.status, failure.status, success.status] == [.accepted, .accepted, .accepted])
        }
        let commands = publisher.published(CallbackCommand.self)
        #expect(commands.map(\.command) == [.heartbeat, .failure, .success])
        #expect(commands[1].errorType == "Review.Blocked")
        #expect(commands[1].errorMessage == "legal hold")
        #expect(commands[2].result == .array([.number(1), .number(2), .number(3)]))
        #expect(commands[2].requestId == "EXEC-3")
    }

    /// Completing a callback needs the `decide` scope; an approval's result names the key it came through, and a
    /// caller cannot put another key's name in it.
    @Test func theDecideScopeIsNeededAndTheKeyIsNamedInTheResult() async throws {
        let publisher = RecordingPublisher()
        try await app(publisher).test(.router) { client in
            let body = #"{"decision": "approved", "approver": "bot@example.com", "apiKey": "someone-else"}"#
            let readOnly = try await post(client, "/v1/callbacks/\(open)/success", body, key: "dashboard-secret-0123456789")
            #expect(readOnly.status == .forbidden)
            #expect(String(buffer: readOnly.body).contains("decide scope"))
            #expect(try await post(client, "/v1/callbacks/\(open)/success", body, key: "bot-secret-0123456789").status == .accepted)
        }
        let commands = publisher.published(CallbackCommand.self)
        #expect(commands.count == 1)
        #expect(commands.first?.result?["apiKey"] == .string("approval-bot"))
    }
}
