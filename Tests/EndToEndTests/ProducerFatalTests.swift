import Foundation
import GreenlightModels
import GreenlightTestSupport
import Kafka
import Testing

extension FaultInjection {
    /// A producer that hits a fatal error (an idempotent producer whose sequence the broker refuses) does not leave
    /// its service running unable to publish: the request in hand is kept in the outbox and answered, and the service
    /// exits 1 with one critical line saying why, for its supervisor to start it afresh.
    @Suite(.timeLimit(.minutes(2)))
    struct ProducerFatalTests {
        @Test func aFatalProducerErrorStopsTheServiceAndLosesNothing() async throws {
            try await ServiceStack.with { stack in
                let requestId = TestEnvironment.uniqueName("FATAL")
                stack.cluster.failNextRequests(.produce, with: [.outOfOrderSequenceNumber])
                let answer = try await stack.submit(
                    #"{"requestId": "\#(requestId)", "amount": 1, "description": "Fenced", "approvers": ["a@example.com"]}"#)
                #expect(answer.status == 202, "\(answer.body)")

                let intake = try #require(stack.processes["intake"])
                let exited = try await eventually(timeout: .seconds(20), interval: .milliseconds(100)) { intake.hasExited }
                #expect(exited, "intake kept running with a fatal producer")
                #expect(await intake.waitForExit() == 1)
                let log = try String(contentsOfFile: intake.logPath, encoding: .utf8)
                #expect(log.contains("Kafka client hit a fatal error"))
                #expect(log.contains(#""level":"critical""#) && log.contains("greenlight-intake stopped"))
                // Accepted before it stopped, so not lost: the outbox carried it.
                _ = try await stack.waitForMail(forRequest: requestId, timeout: .seconds(30))
            }
        }
    }
}
