import Foundation
import GreenlightModels
import GreenlightTestSupport
import Testing

/// Rotating `GREENLIGHT_LINK_SECRET` as README describes, against the running processes: links already emailed keep
/// working, a resend after the rotation sends the same link again (made with the previous secret), and new
/// requests get links made with the new one.
@Suite(.timeLimit(.minutes(3)))
struct LinkRotationTests {
    static let key = "e2e-rotation-key-0123456789"
    static let newSecret = "e2e-rotated-link-secret-abcdef0123456789"

    @Test func aRotatedSecretKeepsOldLinksAndResendsThemUnchanged() async throws {
        try await ServiceStack.with(environment: ["GREENLIGHT_API_KEYS": Self.key]) { stack in
            let before = TestEnvironment.uniqueName("ROTATE")
            #expect(try await stack.submit(
                #"{"requestId": "\#(before)", "amount": 5, "description": "Before the rotation", "approvers": ["a@example.com"]}"#
            ).status == 202)
            let oldLink = try #require(try await stack.waitForMail(forRequest: before).links.first { $0.contains("/approve/") })

            // A link as made before links named their secret: the orchestrator, restarted on this release, names it.
            let pool = try stack.database.pool()
            defer { pool.close() }
            try await pool.query("UPDATE link_tokens SET link_key = NULL WHERE request_id = \(before)")
            try await stack.killAndRestart("orchestrator")
            let named = try await eventually(timeout: .seconds(30), interval: .milliseconds(200)) {
                try await pool.query("SELECT link_key FROM link_tokens WHERE request_id = \(before)").column(String?.self)
                    == [LinkSecret(ServiceStack.linkSecret)!.id]
            }
            #expect(named, "the restarted orchestrator did not name the older link's secret")

            // The rotation: notifiers learn the new secret (the old one kept as previous), then the orchestrator
            // makes links with it.
            await stack.kill("notifier")
            try await stack.startAnother(
                "notifier", as: "notifier-rotated",
                environment: ["GREENLIGHT_LINK_SECRET": Self.newSecret, "GREENLIGHT_LINK_SECRETS_PREVIOUS": ServiceStack.linkSecret])
            await stack.kill("orchestrator")
            try await stack.startAnother("orchestrator", as: "orchestrator-rotated", environment: ["GREENLIGHT_LINK_SECRET": Self.newSecret])

            // A resend of the request made before: the same link, derived with the previous secret.
            let resent = try await HTTP.post(
                "\(stack.intakeURL)/v1/requests/\(before)/resend", body: "{}", contentType: "application/json",
                headers: [("Authorization", "Bearer \(Self.key)")])
            #expect(resent.status == 202)
            let twoMails = try await eventually(timeout: .seconds(40)) { stack.mails(forRequest: before).count == 2 }
            #expect(twoMails, "no resent email")
            #expect(stack.mails(forRequest: before).last?.links.contains(oldLink) == true)

            // A request made after: its link, made with the new secret, works; so does the old one.
            let after = TestEnvironment.uniqueName("ROTATE")
            #expect(try await stack.submit(
                #"{"requestId": "\#(after)", "amount": 5, "description": "After the rotation", "approvers": ["b@example.com"]}"#
            ).status == 202)
            let newLink = try #require(try await stack.waitForMail(forRequest: after, timeout: .seconds(40)).links.first { $0.contains("/approve/") })
            #expect(newLink != oldLink)
            #expect(try await HTTP.clickThrough(newLink).status == 200)
            #expect(try await HTTP.clickThrough(oldLink).status == 200)
            #expect(try await stack.outcomes.waitFor(after).status == .approved)
            #expect(try await stack.outcomes.waitFor(before).status == .approved)
        }
    }
}
