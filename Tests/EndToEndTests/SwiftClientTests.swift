import Foundation
import GreenlightClient
import GreenlightModels
import GreenlightTestSupport
import Testing

/// The Swift client (`GreenlightClient`) against the running services: an agent's action submitted, its status,
/// the wait for its outcome over the long-poll, the signed outcome webhook verified, and intake's refusals as typed
/// errors.
@Suite(.timeLimit(.minutes(3)))
struct SwiftClientTests {
    @Test func theFourOperationsAgainstTheRunningServices() async throws {
        let secret = "whsec_" + Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let receiver = try await WebhookReceiver.start()
        do {
            try await ServiceStack.with(
                environment: ["GREENLIGHT_CALLBACK_SECRET": secret, "GREENLIGHT_CALLBACK_ALLOW_PRIVATE": "true"]
            ) { stack in
                let client = GreenlightClient(baseURL: stack.intakeURL, apiKey: try #require(stack.apiSecret))
                let requestId = TestEnvironment.uniqueName("swift-client")
                let action = AgentAction(
                    tool: "rotate_key", arguments: .object(["key": .string("payments"), "notify": .bool(true), "grace": .number(3600)]))

                // submit
                let accepted = try await client.submit(
                    ApprovalRequestBody(
                        requestId: requestId, description: "The quarterly rotation.", approvers: ["security@example.com"],
                        title: "Rotate the payments key", details: .object(["owner": .string("payments team")]), action: action,
                        callbackUrl: receiver.url))
                #expect(accepted.requestId == requestId)

                // status, once the workflow has recorded the request
                var recorded: RequestStatusBody?
                try await waitUntil(timeout: .seconds(30)) {
                    do {
                        recorded = try await client.status(requestId)
                    } catch let error as GreenlightClientError where error.code == .notFound {}
                    return recorded != nil
                }
                let status = try #require(recorded)
                #expect(status.status == .pending)
                #expect(status.title == "Rotate the payments key")
                #expect(status.action == action)

                // wait: the long-poll answers at the decision, with the digest of exactly the submitted action
                let waiting = Task { try await client.waitForOutcome(requestId, timeout: .seconds(60)) }
                let decision = try await stack.submit(
                    #"{"decision": "approve", "decidedBy": "security@example.com", "comment": "rotated on schedule"}"#,
                    path: "/v1/requests/\(requestId)/decision")
                #expect(decision.status == 202, "\(decision.body)")
                let decided = ContinuousClock.now
                let outcome = try await waiting.value
                #expect(ContinuousClock.now - decided < .seconds(10))
                #expect(outcome.status == .approved)
                #expect(outcome.decidedBy == "security@example.com")
                #expect(outcome.actionDigest == action.digest)
                #expect(outcome.actionDigest == JSONCanonical.sha256(action.json))

                // verify: the outcome webhook is Greenlight's, signed with the deployment's secret; a changed body is not
                try await waitUntil(timeout: .seconds(30)) { !receiver.bodies.isEmpty }
                let body = try #require(receiver.bodies.last)
                let headers = try #require(receiver.attempts.last)
                let webhookId = try GreenlightClient.verifyWebhook(headers: headers, body: body, secret: secret)
                #expect(webhookId == headers["webhook-id"])
                let completed = try GreenlightJSON.decode(ApprovalCompleted.self, from: body)
                #expect(completed.requestId == requestId)
                #expect(completed.actionDigest == action.digest)
                #expect(throws: GreenlightWebhookError.self) {
                    try GreenlightClient.verifyWebhook(headers: headers, body: body + Data(" ".utf8), secret: secret)
                }
                let otherSecret = "whsec_" + Data(repeating: 7, count: 32).base64EncodedString()
                #expect(throws: GreenlightWebhookError.self) {
                    try GreenlightClient.verifyWebhook(headers: headers, body: body, secret: otherSecret)
                }

                // intake's refusals, typed, with its problem
                let invalid = await #expect(throws: GreenlightClientError.self) {
                    try await client.submit(ApprovalRequestBody(requestId: "has spaces", description: "x"))
                }
                #expect(invalid?.code == .invalidRequest)
                #expect(invalid?.problem?.errors?.contains { $0.field == "requestId" } == true)
                let unauthorised = await #expect(throws: GreenlightClientError.self) {
                    try await GreenlightClient(baseURL: stack.intakeURL, apiKey: "not-a-key-of-this-deployment").status(requestId)
                }
                #expect(unauthorised?.code == .unauthorized)
                #expect(unauthorised?.problem?.detail.contains("Authorization") == true)
                let missing = await #expect(throws: GreenlightClientError.self) { try await client.status("\(requestId)-missing") }
                #expect(missing?.code == .notFound)
                let missingOutcome = await #expect(throws: GreenlightClientError.self) {
                    try await client.outcome("\(requestId)-missing", wait: .seconds(1))
                }
                #expect(missingOutcome?.code == .notFound)
                #expect(missingOutcome?.endpoint == .outcome)
            }
        } catch {
            await receiver.stop()
            throw error
        }
        await receiver.stop()
    }
}
