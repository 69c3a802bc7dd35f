import Foundation
import GreenlightModels
import GreenlightTestSupport
import Kafka
import Postgres
import Testing

extension FaultInjection {
    /// A burst of new requests (another system catching up, a batch job) does not keep the people deciding the
    /// requests already out waiting: the orchestrator reads new requests and what is said about existing ones
    /// through separate consumers, so a click is applied while the burst is still being worked through.
    @Suite(.timeLimit(.minutes(3)))
    struct FloodTests {
        @Test func aClickIsAppliedWhileABurstOfNewRequestsIsStillQueued() async throws {
            // The page waits for the verdict longer than by default, so that a slow machine shows where the decision
            // stood against the burst rather than a page that gave up waiting; the count below is what is measured.
            try await ServiceStack.with(services: ["callbacks": ["GREENLIGHT_LINK_VERDICT_WAIT_MS": "15000"]]) { stack in
                let requestId = TestEnvironment.uniqueName("BEFORE-FLOOD")
                #expect(try await stack.submit(
                    #"{"requestId": "\#(requestId)", "amount": 1, "description": "Decided during a flood", "approvers": ["a@example.com"]}"#
                ).status == 202)
                let mail = try await stack.waitForMail(forRequest: requestId)
                let approve = try #require(mail.links.first { $0.contains("/approve/") })
                // The delivery report reaches the orchestrator through the consumer that the click's decision will:
                // once it is applied, that consumer has its partitions, and what follows measures its lanes, not
                // when it joined the group.
                let reported = try await eventually(timeout: .seconds(30), interval: .milliseconds(100)) {
                    try await stack.status(requestId)?.notifications?.first?.result == .delivered
                }
                try #require(reported, "the orchestrator never applied the email's delivery report")

                // The burst goes straight onto the requests topic, as another system's would: every message is with
                // the broker before the click below publishes its decision.
                let burst = 2000
                let prefix = TestEnvironment.uniqueName("FLOOD")
                let messages = try (0..<burst).map { index in
                    let request = ApprovalRequested(
                        requestId: "\(prefix)-\(index)", amount: 1, currency: "USD", description: "Burst \(index)",
                        requester: nil, approvers: ["flood\(index % 20)@example.com"], timeoutSeconds: 3600,
                        submittedAt: Date())
                    return KafkaOutgoingMessage(
                        topic: Topic.requests.rawValue, key: request.requestId, value: Array(try GreenlightJSON.encode(request)))
                }
                let producer = try KafkaProducer(
                    configuration: KafkaConfiguration(bootstrapServers: stack.cluster.bootstrapServers),
                    logger: TestEnvironment.logger("flood"))
                let sent = await producer.send(batch: messages)
                await producer.shutdown()
                #expect(sent.allSatisfy { if case .success = $0 { true } else { false } })

                let clicked = ContinuousClock.now
                let page = try await HTTP.clickThrough(approve)
                let waited = ContinuousClock.now - clicked
                #expect(page.status == 200, "after \(waited): \(page.body)")
                #expect(page.body.contains("Request Approved!"), "\(page.body)")

                // Read after the page answered, so at least as many as when the decision was applied.
                let database = try stack.database.pool()
                defer { database.close() }
                let started = try await database.query(
                    "SELECT count(*) FROM approval_requests WHERE request_id LIKE \(prefix + "-%")"
                ).column(Int.self).first ?? 0
                // Behind the whole burst, the click would have waited for every one of its requests to start.
                #expect(started < burst / 2, "\(started) of the \(burst) requests were started before the click was applied (in \(waited))")
                #expect(try await stack.outcomes.waitFor(requestId).status == .approved)
            }
        }
    }
}
