import Foundation
import GreenlightModels
import GreenlightTestSupport
import Kafka
import Testing

/// The operator console in a real browser (headless Chromium) against the running services, with an admin key on
/// every request: the list and its live counters, a search, a request's timeline and its resend, the dead letters
/// and a replay. Each screen's screenshot is kept in `.build/test-artifacts/screenshots` (or
/// `GREENLIGHT_SCREENSHOT_DIR`) as console-list.png, console-filter.png, console-timeline.png and
/// console-dead-letters.png.
@Suite(.timeLimit(.minutes(3)))
struct ConsoleBrowserTests {
    @Test func anOperatorUsesTheConsoleInABrowser() async throws {
        try await ServiceStack.with { stack in
            let prefix = TestEnvironment.uniqueName("OPS")
            let laptop = "\(prefix)-LAPTOP"
            for body in [
                #"{"requestId": "\#(laptop)", "amount": 1800, "description": "Laptop for Ana", "title": "New laptop", "requester": "ana@example.com", "approvers": ["boss@example.com", "cfo@example.com"], "policy": "all", "details": {"Model": "14-inch", "Cost centre": "R&D"}}"#,
                #"{"requestId": "\#(prefix)-TICKET", "amount": 120, "description": "Conference ticket", "approvers": ["events@example.com"]}"#,
                #"{"requestId": "\#(prefix)-TAXI", "amount": 30, "description": "Taxi to the airport", "approvers": ["boss@example.com"]}"#,
            ] {
                #expect(try await stack.submit(body).status == 202)
            }
            _ = try await stack.waitForMail(forRequest: "\(prefix)-TAXI")
            #expect(
                try await stack.submit(
                    #"{"decision": "approve", "decidedBy": "boss@example.com", "comment": "Safe travels"}"#,
                    path: "/v1/requests/\(prefix)-TAXI/decision"
                ).status == 202)
            try await waitUntil(timeout: .seconds(20)) { stack.mails(forRequest: laptop).count == 2 }
            let link = try #require(
                stack.mails(forRequest: laptop).first { $0.header("To")?.contains("boss@example.com") == true }?.links
                    .first { $0.contains("/approve/") })
            #expect(try await HTTP.clickThrough(link, comment: "Within budget").status == 200)
            #expect(try await stack.outcomes.waitFor("\(prefix)-TAXI").status == .approved)
            // Something for the dead-letter page.
            let producer = try KafkaProducer(
                configuration: KafkaConfiguration(bootstrapServers: stack.cluster.bootstrapServers),
                logger: TestEnvironment.logger("console-poison"))
            try await producer.send(topic: Topic.requests.rawValue, key: "\(prefix)-POISON", value: Array("not json at all".utf8))
            await producer.shutdown()

            let directory = ProcessInfo.processInfo.environment["GREENLIGHT_SCREENSHOT_DIR"]
                ?? BrowserTests.root.appendingPathComponent(".build/test-artifacts/screenshots").path
            let log = "\(stack.logDirectory)/console-browser.log"
            let browser = try await ChildProcess(
                name: "browser", executable: "/usr/bin/python3",
                arguments: [
                    BrowserTests.root.appendingPathComponent("Tests/Support/console_browser.py").path,
                    stack.callbacksURL + "/console", ServiceStack.apiSecret, directory, "laptop",
                ],
                logPath: log)
            let status = await browser.waitForExit()
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            #expect(status == 0, "the browser run failed (scripts/install-deps --with-test-servers installs chromium):\n\(output)")
            let line = try #require(output.split(separator: "\n").last { $0.hasPrefix("{") })
            let seen = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(seen["list"] as? String == "Requests")
            #expect(Set(seen["listRows"] as? [String] ?? []) == [laptop, "\(prefix)-TICKET", "\(prefix)-TAXI"])
            #expect(seen["pending"] as? String == "2")
            #expect(seen["filterRows"] as? [String] == [laptop])
            #expect(seen["timeline"] as? String == "Request \(laptop)")
            let entries = seen["timelineEntries"] as? [String] ?? []
            #expect(entries.first == "Request received")
            #expect(entries.contains("boss@example.com voted to approve"), "\(entries)")
            #expect((seen["resent"] as? String)?.hasPrefix("Resend queued") == true)
            #expect(seen["deadLetters"] as? String == "Dead letters")
            #expect(seen["letters"] as? Int == 1)
            #expect((seen["replayed"] as? String)?.hasPrefix("Replayed") == true)
            try await waitUntil(timeout: .seconds(20)) {
                stack.mails(forRequest: laptop).filter { $0.header("To")?.contains("cfo@example.com") == true }.count == 2
            }
            for name in ["console-list", "console-filter", "console-timeline", "console-dead-letters"] {
                #expect(FileManager.default.fileExists(atPath: "\(directory)/\(name).png"), "no \(name).png in \(directory)")
            }
            print("console browser test: screenshots in \(directory)")
        }
    }
}
