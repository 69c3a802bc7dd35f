import Foundation
import GreenlightModels
import GreenlightTestSupport
import Kafka
import Testing

extension FaultInjection {
    /// Intake and the link pages answer within 5 seconds whatever is down. With the broker away they keep accepting:
    /// the request and the click are stored in the outbox, answered 202 (saying so), and take effect once the broker
    /// is back. With the database away too, the answer is a 503 with Retry-After, still within 5 seconds.
    @Suite(.timeLimit(.minutes(4)))
    struct OutageAnswerTests {
        @Test func intakeAndLinksAnswerWithinFiveSecondsWhileTheBrokerIsDown() async throws {
            try await ServiceStack.with { stack in
                let prefix = TestEnvironment.uniqueName("OUT")
                let before = "\(prefix)-before"
                #expect(try await stack.submit(
                    #"{"requestId": "\#(before)", "amount": 1, "description": "Decided during an outage", "approvers": ["a@example.com"]}"#
                ).status == 202)
                let link = try #require(try await stack.waitForMail(forRequest: before).links.first { $0.contains("/approve/") })

                try await stack.cluster.setBrokerDown(1)
                func timed<T>(_ body: () async throws -> T) async throws -> (T, Duration) {
                    let started = ContinuousClock.now
                    let value = try await body()
                    return (value, ContinuousClock.now - started)
                }

                // A new request: accepted and stored.
                let during = "\(prefix)-during"
                let (submitted, submitTime) = try await timed {
                    try await stack.submit(
                        #"{"requestId": "\#(during)", "amount": 2, "description": "Submitted during an outage", "approvers": ["b@example.com"]}"#)
                }
                #expect(submitted.status == 202, "\(submitted.body)")
                #expect(submitTime < .seconds(5), "intake took \(submitTime)")
                let accepted = try GreenlightJSON.decode(RequestAccepted.self, from: Data(submitted.body.utf8))
                #expect(accepted.queued == true)

                // A click: received, and the page says it is not applied yet.
                let (clicked, clickTime) = try await timed { try await HTTP.clickThrough(link) }
                #expect(clicked.status == 202, "\(clicked.body)")
                #expect(clicked.body.contains("Decision received"))
                #expect(!clicked.body.contains("Request Approved!"))
                #expect(clickTime < .seconds(5), "the page and its form took \(clickTime)")

                // The database away as well: refused, quickly, saying when to retry.
                try await stack.database.setAcceptingConnections(false)
                let (refused, refuseTime) = try await timed {
                    try await stack.submit(
                        #"{"requestId": "\#(prefix)-refused", "amount": 3, "description": "Nothing is up", "approvers": ["c@example.com"]}"#)
                }
                #expect(refused.status == 503, "\(refused.body)")
                #expect(refused.header("Retry-After") != nil)
                #expect(refuseTime < .seconds(5), "intake took \(refuseTime)")
                try await stack.database.setAcceptingConnections(true)

                // Back: what was accepted takes effect.
                try await stack.cluster.setBrokerUp(1)
                let outcome = try await stack.outcomes.waitFor(before, timeout: .seconds(60))
                #expect(outcome.status == .approved)
                #expect(outcome.decidedBy == "a@example.com")
                _ = try await stack.waitForMail(forRequest: during, timeout: .seconds(60))
                #expect(try await stack.status(during)?.status == .pending)
                // A 503 cannot promise the broker will never see the message it did not acknowledge in time: retrying
                // with the same requestId is what is safe, and starts the request once.
                let retried = try await stack.submit(
                    #"{"requestId": "\#(prefix)-refused", "amount": 3, "description": "Nothing is up", "approvers": ["c@example.com"]}"#)
                #expect(retried.status == 202 || retried.status == 200, "\(retried.body)")
                _ = try await stack.waitForMail(forRequest: "\(prefix)-refused", timeout: .seconds(30))
                let pool = try stack.database.pool()
                defer { pool.close() }
                #expect(try await pool.query(
                    "SELECT count(*) FROM durable_executions WHERE name = \("\(prefix)-refused")").column(Int.self) == [1])
                try await Task.sleep(for: .seconds(1))
                #expect(stack.mails(forRequest: "\(prefix)-refused").count == 1)
            }
        }
    }
}
