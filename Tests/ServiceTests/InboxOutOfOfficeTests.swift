import ApprovalStore
import Foundation
import GreenlightModels
import GreenlightTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// Out of office from the inbox: a signed-in approver names their own delegate (the operator API's rules, refused
/// with the form shown again), sees it once the orchestrator has stored it, and clears it; each change is an event set
/// by the person's own address, and only ever for themselves.
struct InboxOutOfOfficeTests {
    static func form(_ fields: [(String, String)]) -> ByteBuffer {
        ByteBuffer(string: fields.map { "\($0)=\($1.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)" }.joined(separator: "&"))
    }

    @Test func anApproverNamesAndClearsTheirOwnDelegate() async throws {
        let portal = try await PortalSessionTests.Portal()
        try await portal.app.test(.router) { client in
            let session = try await portal.signIn(client, email: "A@example.com")
            let csrf = try await portal.csrf(client, session: session)
            var headers = PortalSessionTests.sameOrigin
            headers[.cookie] = "greenlight_session=\(session)"
            func post(_ path: String, _ fields: [(String, String)]) async throws -> (HTTPResponse.Status, String) {
                let response = try await client.execute(
                    uri: path, method: .post, headers: headers, body: Self.form([("csrf", csrf)] + fields))
                return (response.status, String(buffer: response.body))
            }

            // The inbox links to it; with none set, the page offers the form.
            #expect(String(buffer: try await portal.inbox(client, session: session).body).contains(#"href="/inbox/delegation""#))
            let empty = try await client.execute(uri: "/inbox/delegation", method: .get, headers: headers)
            #expect(empty.status == .ok)
            #expect(String(buffer: empty.body).contains("You have no delegate"))

            // The operator API's rules: not oneself, a real address, a first day back in the future, a real date.
            let yesterday = Self.day(Date().addingTimeInterval(-86_400))
            for (fields, field) in [
                ([("delegate", "a@example.com")], "delegate: must be someone other than the approver"),
                ([("delegate", "not an address")], "delegate: must be an email address"),
                ([("delegate", "cover@example.com"), ("until", yesterday)], "until: must be in the future"),
                ([("delegate", "cover@example.com"), ("until", "2026-02-30")], "until: must be a date (YYYY-MM-DD)"),
                ([("delegate", "cover@example.com"), ("until", "2030-13-01")], "until: must be a date (YYYY-MM-DD)"),
                ([("delegate", "cover@example.com"), ("until", "2030-1-01")], "until: must be a date (YYYY-MM-DD)"),
                ([("delegate", "cover@example.com"), ("mode", "never")], "mode: must be also or instead"),
            ] {
                let (status, page) = try await post("/inbox/delegation", fields)
                #expect(status == .unprocessableContent, "\(fields)")
                #expect(page.contains(field), "\(fields)")
                #expect(page.contains(#"value="\#(fields[0].1)""#), "what was entered is shown again")
            }
            #expect(portal.publisher.published(DelegationSet.self).isEmpty)

            // A valid form: a DelegationSet for the signed-in person only, set by them, ending at the first day back.
            let back = Self.day(Date().addingTimeInterval(7 * 86_400))
            let (status, page) = try await post(
                "/inbox/delegation",
                [("delegate", "cover@example.com"), ("mode", "instead"), ("until", back), ("reason", "Holiday"),
                 ("approver", "someone-else@example.com")])
            #expect(status == .ok)
            #expect(page.contains("Saved.") && page.contains("Your delegate: cover@example.com"))
            let set = try #require(portal.publisher.published(DelegationSet.self).last)
            #expect(set.delegation.approver.lowercased() == "a@example.com" && set.delegation.setBy == set.delegation.approver)
            #expect(set.delegation.delegate == "cover@example.com" && set.delegation.mode == .instead)
            #expect(set.delegation.reason == "Holiday" && set.apiKey == nil)
            #expect(set.delegation.until.map(Self.day) == back)
            #expect(set.delegation.until.map { Calendar.utc.dateComponents([.hour, .minute], from: $0) } == DateComponents(hour: 0, minute: 0))

            // Once the orchestrator has stored it (here: written as it writes it), the page shows it.
            try await portal.pool.transaction { connection in
                try await ApprovalWriter(connection).applyDelegation(set.delegation, apiKey: nil)
            }
            let shown = String(buffer: try await client.execute(uri: "/inbox/delegation", method: .get, headers: headers).body)
            #expect(shown.contains("Your delegate: cover@example.com") && shown.contains("instead of you") && shown.contains("Holiday"))
            // A refused form shows it too, beside what to put right.
            let (refusedStatus, refused) = try await post("/inbox/delegation", [("delegate", "not an address")])
            #expect(refusedStatus == .unprocessableContent && refused.contains("Your delegate: cover@example.com"))
            // Once its end has passed it is over, though the row stays until cleared.
            try await portal.pool.query("UPDATE delegations SET ends_at = now() - interval '1 minute'")
            let ended = String(buffer: try await client.execute(uri: "/inbox/delegation", method: .get, headers: headers).body)
            #expect(ended.contains("You have no delegate"))

            let (clearedStatus, cleared) = try await post("/inbox/delegation/clear", [])
            #expect(clearedStatus == .ok && cleared.contains("Cleared."))
            let clear = try #require(portal.publisher.published(DelegationCleared.self).last)
            #expect(clear.approver == set.delegation.approver && clear.clearedBy == set.delegation.approver && clear.apiKey == nil)
        }
    }

    @Test func signedOutThePagesGoToSignIn() async throws {
        let portal = try await PortalSessionTests.Portal()
        try await portal.app.test(.router) { client in
            for (path, method) in [("/inbox/delegation", HTTPRequest.Method.get), ("/inbox/delegation", .post), ("/inbox/delegation/clear", .post)] {
                let response = try await client.execute(
                    uri: path, method: method, headers: PortalSessionTests.sameOrigin, body: ByteBuffer(string: "delegate=b%40example.com"))
                #expect(response.status == .seeOther && response.headers[.location] == "/inbox/sign-in", "\(method) \(path)")
            }
            #expect(portal.publisher.published(DelegationSet.self).isEmpty)
        }
    }

    static func day(_ date: Date) -> String {
        let parts = Calendar.utc.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
    }
}

extension Calendar {
    static var utc: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }
}
