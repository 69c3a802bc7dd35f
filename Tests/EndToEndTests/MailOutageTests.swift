import Foundation
import GreenlightModels
import GreenlightTestSupport
import Testing

extension FaultInjection {
    /// A mail server that is away for longer than any fixed number of quick retries: every approver is still emailed,
    /// once, when it is back, and meanwhile the requests' status and history say the email is being retried.
    @Suite(.timeLimit(.minutes(3)))
    struct MailOutageTests {
        @Test func everyApproverIsEmailedOnceAfterAMailOutage() async throws {
            try await ServiceStack.with { stack in
                await stack.sink.pause()
                let prefix = TestEnvironment.uniqueName("MAIL")
                let ids = (0..<10).map { "\(prefix)-\($0)" }
                for (index, id) in ids.enumerated() {
                    #expect(try await stack.submit(
                        #"{"requestId": "\#(id)", "amount": 1, "description": "During a mail outage", "approvers": ["approver\#(index)@example.com"]}"#
                    ).status == 202)
                }
                // Well past the quarter-minute of retries that used to end in the dead-letter topic, and every email
                // still being retried, as the status shows.
                let outageStarted = ContinuousClock.now
                let retrying = try await eventually(timeout: .seconds(60), interval: .milliseconds(500)) {
                    var all = true
                    for id in ids {
                        let notification = try await stack.status(id)?.notifications?.first
                        all = all && notification?.result == .retrying && (notification?.attempts ?? 0) >= 3
                    }
                    return all && ContinuousClock.now - outageStarted > .seconds(35)
                }
                #expect(retrying, "not every email was being retried 35 s into the outage")
                #expect(stack.sink.messages.isEmpty)

                stack.sink.resume()
                let delivered = try await eventually(timeout: .seconds(30), interval: .milliseconds(200)) {
                    ids.allSatisfy { !stack.mails(forRequest: $0).isEmpty }
                }
                #expect(delivered, "\(ids.filter { stack.mails(forRequest: $0).isEmpty }.count) of \(ids.count) approvers never emailed")
                // Once each, and every request still waits for its decision.
                try await Task.sleep(for: .seconds(3))
                for id in ids {
                    #expect(stack.mails(forRequest: id).count == 1, "\(id)")
                    let status = try #require(try await stack.status(id))
                    #expect(status.status == .pending)
                    #expect(status.notifications?.first?.result == .delivered)
                }
                let history = try await stack.get("/v1/requests/\(ids[0])/history").body
                #expect(history.contains("NotificationRetrying") && history.contains("NotificationDelivered"))
            }
        }
    }
}
