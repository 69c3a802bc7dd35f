import Foundation
import GreenlightModels
import GreenlightTestSupport
import Testing

/// An administrator uses the console from a browser by signing in with the emailed link (no API key): the session
/// opens it, its forms need the session's CSRF token, and a signed-in person who is not an administrator is refused.
@Suite(.timeLimit(.minutes(3)))
struct ConsoleSignInTests {
    @Test func anAdministratorSignedInByEmailUsesTheConsoleAndOthersAreRefused() async throws {
        let admin = "ops-admin@example.com"
        try await ServiceStack.with(environment: ["GREENLIGHT_ADMIN_EMAILS": admin]) { stack in
            let requestId = TestEnvironment.uniqueName("CONSIGN")
            let approver = "signed-in-\(requestId.suffix(6).lowercased())@example.com"
            #expect(try await stack.submit(
                #"{"requestId": "\#(requestId)", "amount": 5, "description": "Pens", "approvers": ["\#(approver)"]}"#
            ).status == 202)
            _ = try await stack.waitForMail(forRequest: requestId)

            // An approver who is not an administrator: signed in, but the console says no.
            let approverBrowser = InboxBrowser(baseURL: stack.callbacksURL)
            #expect(try await approverBrowser.signIn(approver, sink: stack.sink).status == 303)
            let notAdmin = try await approverBrowser.get("/console")
            #expect(notAdmin.status == 403)
            #expect(notAdmin.body.contains("is signed in, but is not one of this deployment"))

            // The administrator: the console opens with the session alone.
            let browser = InboxBrowser(baseURL: stack.callbacksURL)
            #expect(try await browser.signIn(admin, sink: stack.sink).status == 303)
            let console = try await browser.get("/console")
            #expect(console.status == 200, "\(console.body)")
            #expect(console.body.contains(requestId))
            let page = try await browser.get("/console/requests/\(requestId)")
            #expect(page.status == 200)
            let csrf = try #require(InboxBrowser.csrf(in: page.body), "the console's forms carry the session's CSRF token")

            // A form without the token, or with another, changes nothing; with it, the cancellation is queued.
            #expect(try await browser.post("/console/requests/\(requestId)/cancel", [("reason", "No token")]).status == 403)
            #expect(try await browser.post(
                "/console/requests/\(requestId)/cancel", [("csrf", String(csrf.reversed())), ("reason", "Wrong token")]).status == 403)
            #expect(try await browser.post(
                "/console/requests/\(requestId)/cancel", [("csrf", csrf), ("reason", "From another site")], site: "cross-site"
            ).status == 403)
            #expect(try await stack.status(requestId)?.status == .pending)
            let cancelled = try await browser.post("/console/requests/\(requestId)/cancel", [("csrf", csrf), ("reason", "Bought elsewhere")])
            #expect([200, 303].contains(cancelled.status), "\(cancelled.body)")
            let outcome = try await stack.outcomes.waitFor(requestId, timeout: .seconds(30))
            #expect(outcome.status == .cancelled)
        }
    }
}
