import Foundation
import GreenlightModels
import GreenlightTestSupport
import Testing

/// A real browser (headless Chromium) against the running services: it renders the email, opens the review
/// page from it, types a comment, presses Approve and reads the result page; then opens the spent link. Each
/// page's screenshot is kept in `.build/test-artifacts/screenshots` (or `GREENLIGHT_SCREENSHOT_DIR`).
@Suite(.timeLimit(.minutes(3)))
struct BrowserTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized

    struct Pages: Decodable {
        var email: String
        var review: String
        var result: String
        var resultText: String
        var again: String
    }

    @Test func aPersonApprovesInABrowser() async throws {
        try await ServiceStack.with { stack in
            let requestId = TestEnvironment.uniqueName("REQ")
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(requestId)", "amount": 5000, "description": "New server purchase", "requester": "it-ops@example.com", "approvers": ["a@example.com"]}"#
                ).status == 202)
            let mail = try await stack.waitForMail(forRequest: requestId)
            let approve = try #require(mail.links.first { $0.contains("/approve/") })
            let directory = ProcessInfo.processInfo.environment["GREENLIGHT_SCREENSHOT_DIR"]
                ?? Self.root.appendingPathComponent(".build/test-artifacts/screenshots").path
            let emailFile = "\(stack.logDirectory)/email.html"
            try (mail.html ?? "").write(toFile: emailFile, atomically: true, encoding: .utf8)

            let log = "\(stack.logDirectory)/browser.log"
            let browser = try ChildProcess(
                name: "browser", executable: "/usr/bin/python3",
                arguments: [
                    Self.root.appendingPathComponent("Tests/Support/browser_click.py").path, approve, directory,
                    "Approved in a real browser", emailFile,
                ],
                logPath: log)
            let status = await browser.waitForExit()
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            #expect(status == 0, "the browser run failed (scripts/install-deps --with-test-servers installs chromium):\n\(output)")
            let line = try #require(output.split(separator: "\n").last { $0.hasPrefix("{") })
            let pages = try JSONDecoder().decode(Pages.self, from: Data(line.utf8))
            #expect(pages.email == "Approval needed")
            #expect(pages.review == "Approve this request?")
            #expect(pages.result == "Request Approved!")
            #expect(pages.resultText.contains("the workflow has been notified"))
            #expect(pages.again.hasPrefix("This request was already"))

            let outcome = try await stack.outcomes.waitFor(requestId)
            #expect(outcome.status == .approved)
            #expect(outcome.comment == "Approved in a real browser")
            #expect(outcome.votes?.first?.userAgent?.contains("HeadlessChrome") == true)
            for name in ["email", "review", "result", "already-decided"] {
                #expect(FileManager.default.fileExists(atPath: "\(directory)/\(name).png"), "no \(name).png in \(directory)")
            }
            print("browser test: screenshots in \(directory)")
        }
    }
}
