import Crypto
import Foundation
import GreenlightModels
import GreenlightTestSupport
import MailSink
import Postgres
import Testing

/// Slack, interactive, against the running services and a fake Slack Web API: a direct message with buttons per
/// approver, a signed button press that decides like a click, the refusals (unsigned, wrongly signed, stale, another
/// Slack user, a used button), the modal for typed answers, and every message updated when the request ends.
@Suite(.timeLimit(.minutes(3)))
struct SlackTests {
    static let signingSecret = "e2e-slack-signing-secret-0123456789"

    static func withSlack<T>(_ slack: FakeSlack, _ body: (ServiceStack) async throws -> T) async throws -> T {
        try await ServiceStack.with(environment: [
            "GREENLIGHT_SLACK_BOT_TOKEN": FakeSlack.botToken, "GREENLIGHT_SLACK_API_URL": slack.apiURL,
            "GREENLIGHT_SLACK_SIGNING_SECRET": signingSecret,
        ], body)
    }

    @Test func eachApproverGetsADirectMessageWithButtonsAndAPressDecides() async throws {
        // The first post is rate-limited: it goes again after Slack's Retry-After.
        let slack = try await FakeSlack.start(rateLimitFirst: 1)
        try await Self.withSlack(slack) { stack in
            let requestId = TestEnvironment.uniqueName("SLK")
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(requestId)", "amount": 1200, "description": "Laptop <pro> & dock", "approvers": ["a@example.com", "b@example.com"]}"#
                ).status == 202)
            try await waitUntil(timeout: .seconds(30)) { Self.posted(slack, requestId).count == 2 }
            #expect(slack.calls("chat.postMessage").count == 3, "one answered ratelimited, then both posted")
            #expect(Set(slack.calls("users.lookupByEmail").map { $0.form["email"] ?? "" }) == ["a@example.com", "b@example.com"])
            // Email goes as before.
            try await waitUntil(timeout: .seconds(30)) { stack.mails(forRequest: requestId).count == 2 }

            let message = try Self.message(slack, requestId, to: "a@example.com")
            #expect(message.json["channel"] as? String == FakeSlack.userId(for: "a@example.com"))
            #expect((message.json["text"] as? String)?.contains("Laptop &lt;pro&gt; &amp; dock") == true)
            let buttons = Self.buttons(message)
            #expect(buttons.map { $0["action_id"] as? String } == ["greenlight_approve", "greenlight_reject", "greenlight_review"])
            #expect((buttons[2]["url"] as? String)?.hasPrefix(stack.callbacksURL + "/r/") == true)
            let value = try #require(buttons[0]["value"] as? String)
            #expect(value.hasSuffix(":" + FakeSlack.userId(for: "a@example.com")))
            // Each posted message is kept, once per notification.
            try await stack.waitUntilSettled()
            #expect(try await Self.keptMessages(stack, requestId) == 2)

            let pressed = try await Self.press(stack, message, "greenlight_approve", as: FakeSlack.userId(for: "a@example.com"))
            #expect(pressed.status == 200, "\(pressed.body)")
            let outcome = try await stack.outcomes.waitFor(requestId)
            #expect(outcome.status == .approved)
            #expect(outcome.decidedBy == "a@example.com")
            #expect(outcome.channel == .slack)

            // Both messages say how it ended, without buttons.
            try await waitUntil(timeout: .seconds(30)) { Self.updates(slack, requestId).count == 2 }
            for update in Self.updates(slack, requestId) {
                #expect((update.json["text"] as? String)?.hasPrefix("Approved by a@example.com at ") == true, "\(update.json)")
                #expect(!"\(update.json["blocks"] ?? "")".contains("greenlight_approve"))
            }
            // The used button, pressed again (signed afresh), is refused by its link token.
            let again = try await Self.press(stack, message, "greenlight_reject", as: FakeSlack.userId(for: "a@example.com"))
            #expect(again.status == 409, "\(again.body)")
        }
        await slack.stop()
    }

    @Test func unsignedWronglySignedStaleAndOtherUsersPressesAreRefused() async throws {
        let slack = try await FakeSlack.start()
        try await Self.withSlack(slack) { stack in
            let requestId = TestEnvironment.uniqueName("SLK")
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(requestId)", "amount": 50, "description": "Team lunch", "approvers": ["a@example.com"]}"#
                ).status == 202)
            try await waitUntil(timeout: .seconds(30)) { Self.posted(slack, requestId).count == 1 }
            let message = try Self.message(slack, requestId, to: "a@example.com")
            let user = FakeSlack.userId(for: "a@example.com")
            let body = Self.body(Self.buttonPayload(message, "greenlight_approve", user: user))
            let now = Int(Date().timeIntervalSince1970)

            let unsigned = try await Self.post(stack, body, headers: [])
            #expect(unsigned.status == 401, "\(unsigned.body)")
            let wrong = try await Self.post(stack, body, headers: Self.signed(body, timestamp: now, secret: "not-the-secret-0123456789"))
            #expect(wrong.status == 401)
            let stale = try await Self.post(stack, body, headers: Self.signed(body, timestamp: now - 6 * 60))
            #expect(stale.status == 401)
            // Signed for one body, sent with another.
            var headers = Self.signed(body, timestamp: now)
            let tampered = try await Self.post(stack, body.replacingOccurrences(of: "approve", with: "reject"), headers: headers)
            #expect(tampered.status == 401)
            // Someone else pressing the button (a shared or forwarded message).
            let other = Self.body(Self.buttonPayload(message, "greenlight_approve", user: "UINTRUDER"))
            let intruder = try await Self.post(stack, other, headers: Self.signed(other, timestamp: now))
            #expect(intruder.status == 403, "\(intruder.body)")
            #expect(try await stack.messages(on: .decisions, key: requestId).isEmpty)

            headers = Self.signed(body, timestamp: now)
            #expect(try await Self.post(stack, body, headers: headers).status == 200)
            #expect(try await stack.outcomes.waitFor(requestId).status == .approved)
            // The same signed request played again within its five minutes: the button's token is used.
            #expect(try await Self.post(stack, body, headers: headers).status == 409)
            #expect(stack.outcomes.outcomes(forRequest: requestId).count == 1)
        }
        await slack.stop()
    }

    @Test func aRequestThatNeedsAnswersOpensAModalWhoseSubmissionIsChecked() async throws {
        let slack = try await FakeSlack.start()
        try await Self.withSlack(slack) { stack in
            let requestId = TestEnvironment.uniqueName("SLK")
            #expect(
                try await stack.submit(
                    #"""
                    {"requestId": "\#(requestId)", "description": "Deploy api 2.3", "approvers": ["a@example.com"],
                     "responseSchema": {"type": "object", "required": ["risk"],
                       "properties": {"risk": {"type": "string", "title": "Risk", "enum": ["low", "high"]},
                                      "window": {"type": "integer", "title": "Window (minutes)", "maximum": 120}}},
                     "requireReason": "reject"}
                    """#
                ).status == 202)
            try await waitUntil(timeout: .seconds(30)) { Self.posted(slack, requestId).count == 1 }
            let message = try Self.message(slack, requestId, to: "a@example.com")
            let user = FakeSlack.userId(for: "a@example.com")

            // The press opens the modal (nothing is decided yet).
            let pressed = try await Self.press(stack, message, "greenlight_approve", as: user)
            #expect(pressed.status == 200, "\(pressed.body)")
            try await waitUntil(timeout: .seconds(10)) { !slack.calls("views.open").isEmpty }
            let opened = try #require(slack.calls("views.open").last?.json)
            #expect((opened["trigger_id"] as? String)?.hasPrefix("T-") == true)
            let view = try #require(opened["view"] as? [String: Any])
            #expect(view["callback_id"] as? String == "greenlight_decision")
            let blocks = view["blocks"] as? [[String: Any]] ?? []
            #expect(blocks.compactMap { $0["block_id"] as? String } == ["response.risk", "response.window", "comment"])
            #expect(try await stack.messages(on: .decisions, key: requestId).isEmpty)

            // A submission that breaks the rules: the errors are shown in the modal, under their fields.
            let metadata = try #require(view["private_metadata"] as? String)
            let wrong = try await Self.submit(stack, metadata: metadata, user: user, values: [
                "response.window": ["value": ["type": "plain_text_input", "value": "500"]],
            ])
            #expect(wrong.status == 200)
            let errors = try #require((try JSONSerialization.jsonObject(with: Data(wrong.body.utf8)) as? [String: Any]))
            #expect(errors["response_action"] as? String == "errors", "\(wrong.body)")
            let fields = errors["errors"] as? [String: String] ?? [:]
            #expect(fields["response.risk"] == "is required", "\(fields)")
            #expect(fields["response.window"]?.contains("at most 120") == true, "\(fields)")
            #expect(try await stack.messages(on: .decisions, key: requestId).isEmpty)
            // Submitted by someone else: refused.
            let other = try await Self.submit(stack, metadata: metadata, user: "UINTRUDER", values: [:])
            #expect(other.status == 403)

            let right = try await Self.submit(stack, metadata: metadata, user: user, values: [
                "response.risk": ["value": ["type": "static_select", "selected_option": ["value": "low"]]],
                "response.window": ["value": ["type": "plain_text_input", "value": "30"]],
                "comment": ["value": ["type": "plain_text_input", "value": "Looks fine"]],
            ])
            #expect(right.status == 200)
            #expect(right.body.isEmpty, "an empty answer closes the modal: \(right.body)")
            let outcome = try await stack.outcomes.waitFor(requestId)
            #expect(outcome.status == .approved)
            #expect(outcome.channel == .slack)
            #expect(outcome.comment == "Looks fine")
            #expect(outcome.response == .object(["risk": .string("low"), "window": .number(30)]))
        }
        await slack.stop()
    }

    @Test func messagesAreUpdatedAfterADecisionElsewhereAndAfterExpiry() async throws {
        let slack = try await FakeSlack.start()
        try await Self.withSlack(slack) { stack in
            let clicked = TestEnvironment.uniqueName("SLK")
            let expiring = TestEnvironment.uniqueName("SLK")
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(clicked)", "amount": 75, "description": "Conference ticket", "approvers": ["a@example.com", "b@example.com"]}"#
                ).status == 202)
            // Long enough for the message to be posted first on a busy machine.
            #expect(
                try await stack.submit(
                    #"{"requestId": "\#(expiring)", "amount": 5, "description": "Coffee", "approvers": ["c@example.com"], "timeoutSeconds": 10}"#
                ).status == 202)
            try await waitUntil(timeout: .seconds(30)) {
                Self.posted(slack, clicked).count == 2 && Self.posted(slack, expiring).count == 1
            }
            // b rejects by the emailed link.
            let mail = try #require(try await Self.mail(stack, clicked, to: "b@example.com"))
            let reject = try #require(mail.links.first { $0.contains("/reject/") })
            #expect(try await HTTP.clickThrough(reject).status == 200)
            #expect(try await stack.outcomes.waitFor(clicked).status == .rejected)
            try await waitUntil(timeout: .seconds(30)) { Self.updates(slack, clicked).count == 2 }
            for update in Self.updates(slack, clicked) {
                #expect((update.json["text"] as? String)?.hasPrefix("Rejected by b@example.com at ") == true, "\(update.json)")
            }

            #expect(try await stack.outcomes.waitFor(expiring, timeout: .seconds(60)).status == .timedOut)
            try await waitUntil(timeout: .seconds(30)) { Self.updates(slack, expiring).count == 1 }
            let expired = try #require(Self.updates(slack, expiring).first?.json)
            #expect((expired["text"] as? String)?.hasPrefix("Expired at ") == true, "\(expired)")
            // The update names the message posted.
            let posted = try Self.message(slack, expiring, to: "c@example.com")
            #expect(expired["channel"] as? String == "D" + FakeSlack.userId(for: "c@example.com").dropFirst())
            #expect(posted.ok)
        }
        await slack.stop()
    }

    // MARK: - Helpers

    static func posted(_ slack: FakeSlack, _ requestId: String) -> [FakeSlack.Call] {
        slack.calls("chat.postMessage").filter { $0.ok && "\($0.json["blocks"] ?? "")".contains(requestId) }
    }

    static func message(_ slack: FakeSlack, _ requestId: String, to approver: String) throws -> FakeSlack.Call {
        try #require(posted(slack, requestId).first { $0.json["channel"] as? String == FakeSlack.userId(for: approver) })
    }

    static func updates(_ slack: FakeSlack, _ requestId: String) -> [FakeSlack.Call] {
        slack.calls("chat.update").filter { "\($0.json["blocks"] ?? "")".contains(requestId) }
    }

    static func buttons(_ message: FakeSlack.Call) -> [[String: Any]] {
        let blocks = message.json["blocks"] as? [[String: Any]] ?? []
        return blocks.first { $0["type"] as? String == "actions" }?["elements"] as? [[String: Any]] ?? []
    }

    static func keptMessages(_ stack: ServiceStack, _ requestId: String) async throws -> Int {
        let pool = try stack.database.pool(maxConnections: 1)
        defer { pool.close() }
        return try await pool.query("SELECT count(*) FROM slack_messages WHERE request_id = \(requestId)").column(Int.self).first ?? 0
    }

    /// What Slack posts when `user` presses the message's button `action`.
    static func buttonPayload(_ message: FakeSlack.Call, _ action: String, user: String) -> [String: Any] {
        let button = buttons(message).first { $0["action_id"] as? String == action } ?? [:]
        return [
            "type": "block_actions", "user": ["id": user, "name": "someone"], "trigger_id": "T-\(UUID().uuidString)",
            "actions": [["type": "button", "action_id": action, "block_id": "greenlight", "value": button["value"] ?? ""]],
            "container": ["type": "message", "channel_id": message.json["channel"] ?? ""],
            "response_url": "http://127.0.0.1:1/unused",
        ]
    }

    /// The form Slack posts: one `payload` field of JSON.
    static func body(_ payload: [String: Any]) -> String {
        let json = String(decoding: (try? JSONSerialization.data(withJSONObject: payload)) ?? Data(), as: UTF8.self)
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return "payload=" + (json.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")
    }

    /// Slack's signature headers for `body`: `v0=` hex HMAC-SHA256 of `v0:<timestamp>:<body>`.
    static func signed(_ body: String, timestamp: Int, secret: String = signingSecret) -> [(String, String)] {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("v0:\(timestamp):\(body)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return [("X-Slack-Request-Timestamp", "\(timestamp)"), ("X-Slack-Signature", "v0=" + mac.map { String(format: "%02x", $0) }.joined())]
    }

    static func post(_ stack: ServiceStack, _ body: String, headers: [(String, String)]) async throws -> HTTP.Response {
        try await HTTP.post(
            stack.callbacksURL + "/v1/slack/interactions", body: body, contentType: "application/x-www-form-urlencoded", headers: headers)
    }

    /// A signed `view_submission` of the modal with `values` (`block_id` → `action_id` → value), as Slack sends it.
    static func submit(_ stack: ServiceStack, metadata: String, user: String, values: [String: Any]) async throws
        -> HTTP.Response
    {
        let payload: [String: Any] = [
            "type": "view_submission", "user": ["id": user, "name": "someone"],
            "view": [
                "id": "V1", "callback_id": "greenlight_decision", "private_metadata": metadata,
                "state": ["values": values],
            ],
        ]
        let body = body(payload)
        return try await post(stack, body, headers: signed(body, timestamp: Int(Date().timeIntervalSince1970)))
    }

    static func mail(_ stack: ServiceStack, _ requestId: String, to approver: String) async throws -> ParsedMail? {
        var found: ParsedMail?
        try await waitUntil(timeout: .seconds(30)) {
            found = stack.mails(forRequest: requestId).first { $0.header("To") == approver }
            return found != nil
        }
        return found
    }

    /// A signed press of `action` on `message` by `user`, as Slack sends it.
    static func press(_ stack: ServiceStack, _ message: FakeSlack.Call, _ action: String, as user: String) async throws
        -> HTTP.Response
    {
        let body = body(buttonPayload(message, action, user: user))
        return try await post(stack, body, headers: signed(body, timestamp: Int(Date().timeIntervalSince1970)))
    }
}
