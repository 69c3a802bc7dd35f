import Foundation
import GreenlightModels
import GreenlightTestSupport
import Testing

/// A real browser (headless Chromium) through the inbox: it asks for a sign-in link, opens the emailed link and
/// presses its button, sees two pending requests, approves both at once, sees them gone, and names a delegate for
/// while they are away ("Out of office"). Each screen's screenshot is kept in `.build/test-artifacts/screenshots`
/// (or `GREENLIGHT_SCREENSHOT_DIR`).
@Suite(.timeLimit(.minutes(3)))
struct InboxBrowserTests {
    @Test func anApproverSignsInByEmailAndApprovesTwoRequestsAtOnce() async throws {
        try await ServiceStack.with { stack in
            let prefix = TestEnvironment.uniqueName("INBOXB")
            let me = "approver-\(prefix.suffix(6).lowercased())@example.com"
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(prefix)-1", "amount": 1200, "currency": "EUR", "title": "Laptop for Ana", "description": "New laptop for the design team", "requester": "it@example.com", "approvers": ["\#(me)"], "timeoutSeconds": 1800, "details": {"model": "14-inch", "cost centre": "DES-4"}}"#
                ).status == 202)
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(prefix)-2", "amount": 89, "description": "Conference ticket", "approvers": ["\#(me)", "lead@example.com"], "policy": "all", "timeoutSeconds": 3600}"#
                ).status == 202)
            _ = try await stack.waitForMail(forRequest: "\(prefix)-1")
            _ = try await stack.waitForMail(forRequest: "\(prefix)-2")

            let directory = ProcessInfo.processInfo.environment["GREENLIGHT_SCREENSHOT_DIR"]
                ?? BrowserTests.root.appendingPathComponent(".build/test-artifacts/screenshots").path
            let linkFile = "\(stack.logDirectory)/sign-in-link.txt"
            let log = "\(stack.logDirectory)/inbox-browser.log"
            let browser = try await ChildProcess(
                name: "browser", executable: "/usr/bin/python3",
                arguments: [
                    BrowserTests.root.appendingPathComponent("Tests/Support/browser_inbox.py").path, stack.callbacksURL, me,
                    linkFile, directory, "cover-\(prefix.lowercased())@example.com",
                ],
                logPath: log)
            // The browser asks for the link; the test hands it the one that arrives by email.
            var link: String?
            _ = try await eventually(timeout: .seconds(60)) {
                link = InboxBrowser.signInLinks(to: me, sink: stack.sink).last
                return link != nil || browser.hasExited
            }
            if let link { try link.write(toFile: linkFile, atomically: true, encoding: .utf8) }
            let status = await browser.waitForExit()
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            #expect(link != nil, "no sign-in email arrived:\n\(output)")
            #expect(status == 0, "the browser run failed (scripts/install-deps --with-test-servers installs chromium):\n\(output)")
            let line = try #require(output.split(separator: "\n").last { $0.hasPrefix("{") })
            let pages = try JSONDecoder().decode([String: JSONValue].self, from: Data(line.utf8))
            #expect(pages["signIn"] == .string("Sign in to your inbox"))
            #expect(pages["checkEmail"] == .string("Check your email"))
            #expect(pages["inbox"] == .string("Your inbox"))
            #expect(pages["listed"] == .array([.string("\(prefix)-1"), .string("\(prefix)-2")]))
            #expect(pages["results"] == .string("Your 2 decisions"))
            #expect(pages["after"] == .string("Your inbox"))
            #expect(pages["afterText"]?.stringValue?.contains("Nothing waits on you") == true)

            let first = try await stack.outcomes.waitFor("\(prefix)-1")
            #expect(first.status == .approved && first.channel == .inbox && first.decidedBy == me)
            #expect(first.votes?.first?.userAgent?.contains("HeadlessChrome") == true)
            #expect(try await stack.status("\(prefix)-2")?.votes?.map(\.approver) == [me])
            // Out of office, set from the inbox: the orchestrator stores it as set by the approver themselves.
            #expect(pages["outOfOffice"] == .string("Out of office"))
            #expect(pages["outOfOfficeText"]?.stringValue?.contains("Your delegate: cover-\(prefix.lowercased())@example.com") == true)
            #expect(try await eventually(timeout: .seconds(30)) { try await stack.get("/v1/delegations/\(me)").status == 200 })
            let stored = try GreenlightJSON.decode(Delegation.self, from: Data(try await stack.get("/v1/delegations/\(me)").body.utf8))
            #expect(stored.delegate == "cover-\(prefix.lowercased())@example.com" && stored.mode == .instead && stored.setBy == me)
            for name in ["inbox-sign-in", "inbox-list", "inbox-after", "inbox-out-of-office", "inbox-out-of-office-saved"] {
                #expect(FileManager.default.fileExists(atPath: "\(directory)/\(name).png"), "no \(name).png in \(directory)")
            }
        }
    }
}
