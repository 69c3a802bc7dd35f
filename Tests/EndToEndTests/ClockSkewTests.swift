import Foundation
import GreenlightModels
import GreenlightTestSupport
import Testing

extension FaultInjection {
    /// Deadlines and link expiry follow the database's clock: a service whose host clock is five minutes fast neither
    /// fires timers early nor calls valid links expired. (The clock is moved by Tests/clock/skewed_clock.c rather than
    /// Debian's libfaketime, which also fakes the clock librdkafka times its waits with and stalls every one of them.)
    @Suite(.timeLimit(.minutes(3)))
    struct ClockSkewTests {
        @Test func anOrchestratorWhoseClockIsFiveMinutesFastFiresNoTimerEarly() async throws {
            let fast = try await SkewedClock.environment(seconds: 300)
            try await ServiceStack.with { stack in
                let prefix = TestEnvironment.uniqueName("SKEW")
                let ids = (0..<4).map { "\(prefix)-\($0)" }
                let submitted = ContinuousClock.now
                for id in ids {
                    #expect(try await stack.submit(
                        #"{"requestId": "\#(id)", "amount": 1, "description": "Deadline in 20 s", "approvers": ["a@example.com"], "timeoutSeconds": 20}"#
                    ).status == 202)
                }
                for id in ids { _ = try await stack.waitForMail(forRequest: id) }

                // The orchestrator is replaced by one whose clock is 300 s fast: every deadline is behind it already.
                let correct = try #require(stack.processes["orchestrator"])
                correct.signal(SIGKILL)
                _ = await correct.waitForExit()
                let skewed = try await stack.startAnother("orchestrator", as: "orchestrator-fast", environment: fast)
                _ = try await ServiceStack.listeningPort(of: skewed)
                // It works (it starts a new request), and still leaves the others to their real deadline.
                let probe = "\(prefix)-probe"
                #expect(try await stack.submit(#"{"requestId": "\#(probe)", "amount": 1, "description": "Probe"}"#).status == 202)
                _ = try await stack.waitForMail(forRequest: probe, timeout: .seconds(30))
                #expect(ContinuousClock.now - submitted < .seconds(18), "the check came too late to tell")
                for id in ids { #expect(try await stack.status(id)?.status == .pending, "\(id) ended before its deadline") }

                for id in ids {
                    let outcome = try await stack.outcomes.waitFor(id, timeout: .seconds(40))
                    #expect(outcome.status == .timedOut)
                }
                let waited = ContinuousClock.now - submitted
                #expect(waited >= .seconds(20) && waited < .seconds(35), "timed out after \(waited)")
            }
        }

        @Test func aLinkPageWhoseClockIsFiveMinutesFastKeepsAValidLinkValid() async throws {
            let fast = try await SkewedClock.environment(seconds: 300)
            try await ServiceStack.with { stack in
                let id = TestEnvironment.uniqueName("SKEW-LINK")
                #expect(try await stack.submit(
                    #"{"requestId": "\#(id)", "amount": 1, "description": "Link valid for 2 minutes", "approvers": ["a@example.com"], "timeoutSeconds": 120}"#
                ).status == 202)
                let link = try #require(try await stack.waitForMail(forRequest: id).links.first { $0.contains("/approve/") })
                let skewed = try await stack.startAnother("callbacks", as: "callbacks-fast", environment: fast)
                let port = try await ServiceStack.listeningPort(of: skewed)
                let path = String(link[link.range(of: "/approve/")!.lowerBound...])
                let page = try await HTTP.get("http://127.0.0.1:\(port)\(path)")
                #expect(page.status == 200, "\(page.body)")
                #expect(page.body.contains("Approve this request?"))
                skewed.signal(SIGTERM)
                _ = await skewed.waitForExit()
            }
        }
    }
}
