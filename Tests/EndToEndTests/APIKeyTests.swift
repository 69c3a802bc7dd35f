import Foundation
import GreenlightModels
import GreenlightTestSupport
import Testing

/// Named, scoped API keys against the running services: what each key may do, and every action carrying the name
/// of the key that made it — in the vote, the history and the outcome event.
extension TrustBoundary {
@Suite(.timeLimit(.minutes(3)))
struct APIKeyTests {
    static let keys = [
        "ci:submit:ci-secret-0123456789abcdef", "dashboard:read:dashboard-secret-0123456789",
        "approval-bot:decide+read:bot-secret-0123456789abcdef", "ops:admin:ops-secret-0123456789abcdef",
    ].joined(separator: ",")

    static func bearer(_ secret: String) -> [(String, String)] { [("Authorization", "Bearer \(secret)")] }
    static let ci = bearer("ci-secret-0123456789abcdef")
    static let dashboard = bearer("dashboard-secret-0123456789")
    static let bot = bearer("bot-secret-0123456789abcdef")
    static let ops = bearer("ops-secret-0123456789abcdef")

    @Test func eachKeyDoesWhatItsScopesAllowAndSignsWhatItDoes() async throws {
        try await ServiceStack.with(environment: ["GREENLIGHT_API_KEYS": Self.keys]) { stack in
            let requestId = TestEnvironment.uniqueName("KEY")
            let body = #"{"requestId": "\#(requestId)", "amount": 40, "description": "Two approvers", "approvers": ["a@example.com", "b@example.com"], "policy": "all"}"#
            // No key, or a key without `submit`: nothing is accepted.
            let anonymous = try await HTTP.post(stack.intakeURL + "/v1/requests", body: body, contentType: "application/json")
            #expect(anonymous.status == 401)
            #expect(anonymous.body.contains("Authorization: Bearer"))
            #expect(try await stack.submit(body, headers: Self.dashboard).status == 403)
            #expect(try await stack.submit(body, headers: Self.ci).status == 202)
            _ = try await stack.waitForMail(forRequest: requestId)

            // The submitting system cannot read; the dashboard can.
            let path = "\(stack.intakeURL)/v1/requests/\(requestId)"
            #expect(try await HTTP.send(url: path, headers: Self.ci).status == 403)
            #expect(try await HTTP.send(url: path, headers: Self.dashboard).status == 200)

            // The bot votes for a@…: recorded with its key's name, in the vote and the history.
            let decide = "\(path)/decision"
            let vote = #"{"decision": "approve", "decidedBy": "a@example.com", "comment": "checked by the bot"}"#
            #expect(try await HTTP.post(decide, body: vote, contentType: "application/json", headers: Self.dashboard).status == 403)
            #expect(try await HTTP.post(decide, body: vote, contentType: "application/json", headers: Self.bot).status == 202)
            var status: RequestStatusBody?
            let recorded = try await eventually(timeout: .seconds(20), interval: .milliseconds(200)) {
                let response = try await HTTP.send(url: path, headers: Self.bot)
                status = try? GreenlightJSON.decode(RequestStatusBody.self, from: Data(response.body.utf8))
                return status?.votes?.count == 1
            }
            #expect(recorded, "\(String(describing: status))")
            #expect(status?.votes?.first?.apiKey == "approval-bot")
            #expect(status?.votes?.first?.approver == "a@example.com")

            // A resend and the second vote by the operator's key; the outcome names the key that settled it.
            #expect(try await HTTP.post("\(path)/resend", body: "{}", contentType: "application/json", headers: Self.bot).status == 403)
            #expect(try await HTTP.post("\(path)/resend", body: "{}", contentType: "application/json", headers: Self.ops).status == 202)
            // The resend and a decision travel separately (a command, a decision), so either may be applied first;
            // the second vote waits until the resend is, or the request would end before it (seen in CI).
            let resent = try await eventually(timeout: .seconds(20), interval: .milliseconds(200)) {
                try await HTTP.send(url: "\(path)/history", headers: Self.dashboard).body.contains("NotificationsResent")
            }
            #expect(resent, "the resend was never applied")
            let second = #"{"decision": "approve", "decidedBy": "b@example.com"}"#
            #expect(try await HTTP.post(decide, body: second, contentType: "application/json", headers: Self.ops).status == 202)
            let outcome = try await stack.outcomes.waitFor(requestId)
            #expect(outcome.status == .approved)
            #expect(outcome.apiKey == "ops")
            #expect(outcome.votes?.map(\.apiKey) == ["approval-bot", "ops"])

            let history = try await HTTP.send(url: "\(path)/history", headers: Self.dashboard).body
            let events = try #require(
                (try JSONSerialization.jsonObject(with: Data(history.utf8)) as? [String: Any])?["events"] as? [[String: Any]])
            func details(_ type: String) -> [String: Any]? {
                events.first { $0["type"] as? String == type }?["details"] as? [String: Any]
            }
            #expect(details("VoteRecorded")?["APIKey"] as? String == "approval-bot", "\(history)")
            #expect(details("NotificationsResent")?["APIKey"] as? String == "ops", "\(history)")
            #expect(history.contains("\"apiKey\":\"ops\""), "the deciding result names the key")
            // Only names: no secret is stored or shown anywhere.
            #expect(!history.contains("secret-0123456789"))
        }
    }

    /// A cancellation through the API names its key in the history and the outcome.
    @Test func aCancellationNamesItsKey() async throws {
        try await ServiceStack.with(environment: ["GREENLIGHT_API_KEYS": Self.keys]) { stack in
            let requestId = TestEnvironment.uniqueName("KEY")
            #expect(try await stack.submit(#"{"requestId": "\#(requestId)", "amount": 1, "description": "To cancel"}"#, headers: Self.ci).status == 202)
            _ = try await stack.waitForMail(forRequest: requestId)
            let cancel = "\(stack.intakeURL)/v1/requests/\(requestId)/cancel"
            let refused = try await HTTP.post(cancel, body: "", contentType: "application/json", headers: Self.bot)
            #expect(refused.status == 403)
            #expect(refused.body.contains("approval-bot") && refused.body.contains("admin"))
            #expect(try await HTTP.post(cancel, body: #"{"reason": "wrong amount"}"#, contentType: "application/json", headers: Self.ops).status == 202)
            let outcome = try await stack.outcomes.waitFor(requestId)
            #expect(outcome.status == .cancelled)
            #expect(outcome.apiKey == "ops")
            let history = try await HTTP.send(url: "\(stack.intakeURL)/v1/requests/\(requestId)/history", headers: Self.ops).body
            #expect(history.contains("\"APIKey\":\"ops\""), "\(history)")
        }
    }

    /// Opened deliberately: no key needed.
    @Test func anOpenIntakeNeedsNoKey() async throws {
        try await ServiceStack.with(environment: ["GREENLIGHT_INTAKE_AUTH": "none", "GREENLIGHT_API_KEYS": ""]) { stack in
            let requestId = TestEnvironment.uniqueName("OPEN")
            let accepted = try await HTTP.post(
                stack.intakeURL + "/v1/requests", body: #"{"requestId": "\#(requestId)", "amount": 1, "description": "Open"}"#,
                contentType: "application/json")
            #expect(accepted.status == 202)
            _ = try await stack.waitForMail(forRequest: requestId)
            #expect(try await HTTP.get("\(stack.intakeURL)/v1/requests/\(requestId)").status == 200)
        }
    }

    /// Intake will not start with no key unless opened deliberately, and says which settings to fix.
    @Test func intakeRefusesToStartWithoutAKey() async throws {
        let log = TestEnvironment.scratchPath("intake-no-key-\(UUID().uuidString.prefix(8)).log")
        let intake = try await ChildProcess(
            name: "intake", executable: "\(try ServiceStack.executableDirectory())/greenlight-intake",
            environment: ["GREENLIGHT_API_KEYS": "", "GREENLIGHT_HTTP_PORT": "0"], logPath: log)
        let status = await intake.waitForExit()
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(status != 0)
        #expect(output.contains("GREENLIGHT_API_KEYS is empty") && output.contains("GREENLIGHT_INTAKE_AUTH=none"), "\(output)")
    }

    /// The abuse limits through the real intake: 429 problems with `Retry-After`, counted in `/metrics`.
    @Test func abuseLimitsAnswer429AndAreCounted() async throws {
        try await ServiceStack.with(
            environment: ["GREENLIGHT_SUBMIT_RATE_LIMIT": "3", "GREENLIGHT_RECIPIENT_RATE_LIMIT": "1"]
        ) { stack in
            func submit(_ approver: String) async throws -> HTTP.Response {
                let id = TestEnvironment.uniqueName("LIMIT")
                return try await stack.submit(
                    #"{"requestId": "\#(id)", "amount": 1, "description": "Limits", "approvers": ["\#(approver)"]}"#)
            }
            #expect(try await submit("a@example.com").status == 202)
            let again = try await submit("a@example.com")
            #expect(again.status == 429)
            #expect(again.header("Retry-After").flatMap(Int.init) ?? 0 > 0, "\(again.headers)")
            #expect(again.body.contains("GREENLIGHT_RECIPIENT_RATE_LIMIT"))
            #expect(try await submit("b@example.com").status == 202)
            let fourth = try await submit("c@example.com")
            #expect(fourth.status == 429)
            #expect(fourth.body.contains("GREENLIGHT_SUBMIT_RATE_LIMIT"))
            let metrics = try await stack.metrics("intake")
            #expect(metrics.value("greenlight_rate_limited_total", ["limit": "recipient"]) == 1, "\(metrics)")
            #expect(metrics.value("greenlight_rate_limited_total", ["limit": "submit"]) == 1)
        }
    }
}
}
