import Foundation
import GreenlightModels
import Hummingbird
import HummingbirdTesting
import Intake
import NIOCore
import Testing

/// What the intake refuses so that it accepts nothing deploy/openapi.yaml's schemas refuse (found by Schemathesis),
/// and the 422 it answers for rules between fields, which the document lists.
struct IntakeContractTests {
    let routes = IntakeRoutesTests()

    func post(_ client: some TestClientProtocol, _ uri: String, _ body: String) async throws -> TestResponse {
        try await client.execute(
            uri: uri, method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body))
    }

    func fields(_ response: TestResponse) throws -> [String] {
        try JSONDecoder().decode(Problem.self, from: Data(buffer: response.body)).errors?.map(\.field) ?? []
    }

    @Test func aFieldSentAsNullIsRefusedNamingIt() async throws {
        let publisher = RecordingPublisher()
        let statuses = FixedStatuses(known: ["REQ-1": routes.status(.pending)])
        try await routes.app(publisher, statuses: statuses).test(.router) { client in
            let submitted = try await post(
                client, "/v1/requests", #"{"requestId": "R-1", "amount": 1, "description": "d", "escalateAfterSeconds": null}"#)
            #expect(submitted.status == .badRequest)
            #expect(try fields(submitted) == ["escalateAfterSeconds"])
            let decided = try await post(
                client, "/v1/requests/REQ-1/decision", #"{"decision": "approve", "decidedBy": "ops", "comment": null}"#)
            #expect(decided.status == .badRequest)
            #expect(try fields(decided) == ["comment"])
            let cancelled = try await post(client, "/v1/requests/REQ-1/cancel", #"{"reason": null}"#)
            #expect(cancelled.status == .badRequest)
            // The word inside a text is no null member.
            let worded = try await post(
                client, "/v1/requests", #"{"requestId": "R-2", "amount": 1, "description": "a null pointer", "title": "null"}"#)
            #expect(worded.status == .accepted)
        }
        #expect(publisher.published(ApprovalRequested.self).map(\.requestId) == ["R-2"])
    }

    @Test func textsLongerThanTheDocumentAllowsAreRefusedNotCut() async throws {
        let publisher = RecordingPublisher()
        let statuses = FixedStatuses(known: ["REQ-1": routes.status(.pending)])
        let long = String(repeating: "é", count: 1001)
        try await routes.app(publisher, statuses: statuses).test(.router) { client in
            let decided = try await post(
                client, "/v1/requests/REQ-1/decision", #"{"decision": "approve", "decidedBy": "ops", "comment": "\#(long)"}"#)
            #expect(decided.status == .badRequest)
            #expect(try fields(decided) == ["comment"])
            let padded = try await post(
                client, "/v1/requests/REQ-1/decision",
                #"{"decision": "approve", "decidedBy": " \#(String(repeating: "a", count: 320))"}"#)
            #expect(try fields(padded) == ["decidedBy"])
            let blank = try await post(client, "/v1/requests/REQ-1/decision", #"{"decision": "approve", "decidedBy": "\n"}"#)
            #expect(try fields(blank) == ["decidedBy"])
            let cancelled = try await post(
                client, "/v1/requests/REQ-1/cancel", #"{"reason": "\#(String(repeating: "r", count: 501))"}"#)
            #expect(try fields(cancelled) == ["reason"])
            // At the limit, everything is kept.
            let atLimit = try await post(
                client, "/v1/requests/REQ-1/decision",
                #"{"decision": "approve", "decidedBy": "ops", "comment": "\#(String(long.dropLast()))"}"#)
            #expect(atLimit.status == .accepted)
        }
        #expect(publisher.published(DecisionSubmitted.self).map(\.comment) == [String(long.dropLast())])
    }

    @Test func aSubmissionIsCheckedAsSent() async throws {
        let publisher = RecordingPublisher()
        try await routes.app(publisher).test(.router) { client in
            // Upper-casing "ıſa" gives "ISA": still not three ASCII letters as sent.
            let dotless = try await post(client, "/v1/requests", #"{"requestId": "R-1", "amount": 1, "description": "d", "currency": "ıſa"}"#)
            #expect(try fields(dotless) == ["currency"])
            let lower = try await post(client, "/v1/requests", #"{"requestId": "R-2", "amount": 1, "description": "d", "currency": "eur"}"#)
            #expect(lower.status == .accepted)
            let description = String(repeating: "d", count: 2000) + " "
            let tooLong = try await post(client, "/v1/requests", #"{"requestId": "R-3", "amount": 1, "description": "\#(description)"}"#)
            #expect(try fields(tooLong) == ["description"])
        }
        #expect(publisher.published(ApprovalRequested.self).map(\.currency) == ["EUR"])
    }

    @Test func fieldsThatDoNotFitTogetherAreA422() async throws {
        let publisher = RecordingPublisher()
        try await routes.app(publisher).test(.router) { client in
            for uri in ["/v1/requests", "/requests"] {
                let response = try await post(
                    client, uri, #"{"requestId": "R-1", "amount": 1, "description": "d", "timeoutSeconds": 60, "remindAfterSeconds": 60}"#)
                #expect(response.status == .unprocessableContent)
                #expect(try fields(response) == ["remindAfterSeconds"])
            }
        }
        #expect(publisher.events.withLock { $0.isEmpty })
    }

    @Test func theListsAgeIsBounded() async throws {
        try await routes.app(RecordingPublisher()).test(.router) { client in
            let tooOld = try await client.execute(
                uri: "/v1/requests?status=pending&olderThanSeconds=9223372036854775807", method: .get)
            #expect(tooOld.status == .badRequest)
            #expect(try fields(tooOld) == ["olderThanSeconds"])
            let oldest = try await client.execute(uri: "/v1/requests?status=pending&olderThanSeconds=3153600000", method: .get)
            #expect(oldest.status == .ok)
        }
    }
}
