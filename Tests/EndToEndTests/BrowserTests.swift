import Foundation
import GreenlightModels
import GreenlightTestSupport
import Testing

/// A real browser (headless Chromium) against the running services: it renders the email, opens the review
/// page from it, types a comment, presses Approve and reads the result page; then opens the spent link, reviews
/// and rejects another request, and opens an expired link, an unknown one and one past the rate limit. Each
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
        var reviewBoth: String
        var rejected: String
        var expired: String
        var notRecognised: String
        var tooManyRequests: String

        enum CodingKeys: String, CodingKey {
            case email, review, result, resultText, again, rejected, expired
            case reviewBoth = "review-both", notRecognised = "not-recognised", tooManyRequests = "too-many-requests"
        }
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
            // The other pages: a second request reviewed with both buttons and rejected, a third whose deadline
            // passed, a link nobody issued, and a client over the rate limit.
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(requestId)-R", "amount": 120, "description": "Conference ticket", "approvers": ["b@example.com"]}"#
                ).status == 202)
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(requestId)-E", "amount": 30, "description": "Taxi", "approvers": ["c@example.com"], "timeoutSeconds": 8}"#
                ).status == 202)
            let reject = try #require(try await stack.waitForMail(forRequest: "\(requestId)-R").links.first { $0.contains("/reject/") })
            let expiring = try #require(try await stack.waitForMail(forRequest: "\(requestId)-E").links.first { $0.contains("/approve/") })
            #expect(try await eventually(timeout: .seconds(30)) { try await stack.status("\(requestId)-E")?.status == .timedOut })
            let both = reject.replacingOccurrences(of: "/reject/", with: "/r/")
            let extras = [
                "--page", "review-both=\(both)", "--submit", "rejected=\(reject)", "--page", "expired=\(expiring)",
                "--page", "not-recognised=\(stack.callbacksURL)/approve/AAAAAAAAAAAAAAAAAAAAAA",
                "--flood", "too-many-requests=\(both)",
            ]
            let emailFile = "\(stack.logDirectory)/email.html"
            try (mail.html ?? "").write(toFile: emailFile, atomically: true, encoding: .utf8)

            let log = "\(stack.logDirectory)/browser.log"
            let browser = try await ChildProcess(
                name: "browser", executable: "/usr/bin/python3",
                arguments: [
                    Self.root.appendingPathComponent("Tests/Support/browser_click.py").path, approve, directory,
                    "Approved in a real browser", emailFile,
                ] + extras,
                logPath: log)
            let status = await browser.waitForExit()
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            #expect(status == 0, "the browser run failed (scripts/install-deps --with-test-servers installs chromium):\n\(output)")
            let line = try #require(output.split(separator: "\n").last { $0.hasPrefix("{") })
            let pages = try JSONDecoder().decode(Pages.self, from: Data(line.utf8))
            #expect(pages.email == "Approval needed")
            #expect(pages.review == "Approve this request?")
            #expect(pages.result == "Request Approved!")
            #expect(pages.resultText.contains("Your decision settled \(requestId): it is approved."))
            #expect(pages.again.hasPrefix("This request was already"))
            #expect(pages.reviewBoth == "Review this request")
            #expect(pages.rejected == "Request Rejected!")
            #expect(pages.expired == "This link has expired")
            #expect(pages.notRecognised == "This link is not recognised")
            #expect(pages.tooManyRequests == "Too many requests")
            #expect(try await stack.outcomes.waitFor("\(requestId)-R").status == .rejected)

            let outcome = try await stack.outcomes.waitFor(requestId)
            #expect(outcome.status == .approved)
            #expect(outcome.comment == "Approved in a real browser")
            #expect(outcome.votes?.first?.userAgent?.contains("HeadlessChrome") == true)
            for name in [
                "email", "review", "result", "already-decided", "review-both", "rejected", "expired", "not-recognised",
                "too-many-requests",
            ] {
                #expect(FileManager.default.fileExists(atPath: "\(directory)/\(name).png"), "no \(name).png in \(directory)")
            }
            print("browser test: screenshots in \(directory)")
        }
    }
}
