import AsyncHTTPClient
import Foundation
import GreenlightModels
import Logging
import NIOCore
import ServiceSupport
import Tracing

/// The JSON a webhook notification POSTs: Slack-compatible (`text`, and `blocks` with the details and two link
/// buttons), plus a `greenlight` object with the same facts for programs.
enum WebhookMessage {
    static func make(for notification: NotificationRequested, linkToken: String, publicURL: String, now: Date = Date())
        -> Data
    {
        let amount = HumanFormat.amount(notification.amount, currency: notification.currency)
        let approveURL = "\(publicURL)/approve/\(linkToken)"
        let rejectURL = "\(publicURL)/reject/\(linkToken)"
        let (heading, details) = summary(for: notification, now: now)
        let headline = amount.map { "\(notification.description) (\($0))" } ?? notification.description
        let text: String = slack("\(heading): \(headline) for \(notification.approver)") + " — approve: \(approveURL) reject: \(rejectURL)"
        var facts: [String: JSONValue] = [
            "requestId": .string(notification.requestId), "approver": .string(notification.approver),
            "kind": .string((notification.kind ?? .request).rawValue), "description": .string(notification.description),
            "requester": notification.requester.map(JSONValue.string) ?? .null,
            "expiresAt": .string(Timestamp.format(notification.expiresAt)), "approveUrl": .string(approveURL),
            "rejectUrl": .string(rejectURL),
        ]
        if let value = notification.amount { facts["amount"] = .number(value) }
        if let currency = notification.currency { facts["currency"] = .string(currency) }
        if let title = notification.title { facts["title"] = .string(title) }
        if let details = notification.details { facts["details"] = details }
        if let action = notification.action { facts["action"] = action.json }
        let body: JSONValue = .object([
            // Escaped like the blocks: `<url|label>` in a description must not become a link.
            "text": .string(text),
            "blocks": .array([
                .object(["type": .string("section"), "text": .object(["type": .string("mrkdwn"), "text": .string(details)])]),
                .object([
                    "type": .string("actions"),
                    "elements": .array([
                        button("Approve", url: approveURL, style: "primary"), button("Reject", url: rejectURL, style: "danger"),
                    ]),
                ]),
            ]),
            "greenlight": .object(facts),
        ])
        return (try? GreenlightJSON.encode(body)) ?? Data()
    }

    /// The message's heading ("Approval needed") and its details as Slack mrkdwn lines: what the webhook and the
    /// Slack direct message both show.
    static func summary(for notification: NotificationRequested, now: Date) -> (heading: String, details: String) {
        let amount = HumanFormat.amount(notification.amount, currency: notification.currency)
        let heading: String
        switch notification.kind ?? .request {
        case .request: heading = "Approval needed"
        case .reminder: heading = "Reminder: approval needed"
        case .escalation: heading = "Escalated: approval needed"
        // The orchestrator asks for receipts and delegation notices by email only; should one come here, it announces
        // the request as usual.
        case .receipt, .delegated: heading = "Approval needed"
        }
        let expires = "\(HumanFormat.utc(notification.expiresAt)) (expires in \(HumanFormat.duration(from: now, to: notification.expiresAt)))"
        let shown = ContentDisplay(
            title: notification.title, details: notification.details, links: notification.links, action: notification.action)
        var lines = ["*\(heading)* for \(slack(notification.approver))"]
        if let title = shown.title { lines.append("*\(slack(title))*") }
        lines += [slack(notification.description), "*Request:* \(slack(notification.requestId))"]
        if let amount { lines.append("*Amount:* \(slack(amount))") }
        lines += shown.details.map { "*\(slack($0.label)):* \(slack($0.value))" }
        lines += shown.links.map { "*Link:* \(slack($0.label)) \(slack($0.url))" }
        if let action = shown.action { lines.append("*Action:* `\(slack(action.tool))` \(slack(notification.action?.arguments.jsonText ?? ""))") }
        lines += ["*Requester:* \(slack(notification.requester ?? "an automated system"))", "*Expires:* \(expires)"]
        return (heading, lines.joined(separator: "\n"))
    }

    static func button(_ text: String, url: String, style: String) -> JSONValue {
        .object([
            "type": .string("button"), "text": .object(["type": .string("plain_text"), "text": .string(text)]),
            "url": .string(url), "style": .string(style),
        ])
    }

    /// Slack's mrkdwn treats `&`, `<` and `>` as markup.
    static func slack(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}

/// Why a webhook POST failed.
struct WebhookError: Error, Sendable, CustomStringConvertible {
    var status: Int?
    var reason: String
    /// False when no webhook URL is set: a setting to fix, not something retrying mends.
    var configured = true
    /// 4xx answers other than 408 and 429 will not get better by retrying, nor will a missing URL; the rest may.
    var isPermanent: Bool { !configured || (status.map { (400..<500).contains($0) && $0 != 408 && $0 != 429 } ?? false) }

    var description: String {
        status.map { "the webhook answered \($0): \(reason)" } ?? "the webhook could not be reached: \(reason)"
    }
}

/// POSTs webhooks, once per call (the delivery queue retries): webhook notifications to `GREENLIGHT_WEBHOOK_URL`,
/// and outcome webhooks to a request's callback URL.
struct WebhookPoster: Sendable {
    let url: String?
    let logger: Logger

    /// AsyncHTTPClient's shared settings without its client span, which would record the webhook's URL, a secret (a
    /// Slack incoming webhook's URL is its credential) that a trace collector must not receive; `post` opens a span
    /// of its own that names only the host. One client for the life of the process, as `HTTPClient.shared` is.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.tracing.tracer = nil
        return HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup, configuration: configuration)
    }()

    /// The same for callback URLs, which a request names: it follows no redirect, since a redirect could lead to an
    /// address the SSRF guard refuses (a 3xx is a failed attempt, as Standard Webhooks says).
    static let callbackClient: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.tracing.tracer = nil
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup, configuration: configuration)
    }()

    /// A webhook notification to `GREENLIGHT_WEBHOOK_URL`.
    func post(_ body: Data) async throws(WebhookError) {
        guard let url else {
            throw WebhookError(
                status: nil, reason: "no webhook is configured: set GREENLIGHT_WEBHOOK_URL for the notifier", configured: false)
        }
        let status = try await Self.post(body, to: url, client: Self.client)
        guard (200..<300).contains(status.code) else {
            throw WebhookError(status: status.code, reason: status.answer)
        }
    }

    /// One POST with `headers`, within `timeout`; the status and the start of the answer, whatever the status.
    static func post(
        _ body: Data, to url: String, contentType: String = "application/json", headers: [(name: String, value: String)] = [],
        client: HTTPClient, timeout: TimeAmount = .seconds(15)
    ) async throws(WebhookError) -> (code: Int, answer: String) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        request.headers.add(name: "User-Agent", value: "greenlight-notifier")
        for header in headers { request.headers.add(name: header.name, value: header.value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            return try await withSpan("POST webhook", ofKind: .client) { span in
                span.attributes["http.request.method"] = "POST"
                span.attributes["server.address"] = URL(string: url)?.host
                // The span's `traceparent` lets the receiving system join the request's trace.
                if let trace = span.context.traceContext { request.headers.add(name: TraceContext.headerName, value: trace.traceparent) }
                let response = try await client.execute(request, timeout: timeout)
                span.attributes["http.response.status_code"] = Int(response.status.code)
                // The status decides; of the answer only its start is kept (for the error of a failure), and an answer
                // longer than that fails nothing (a receiver that took the webhook and said much about it took it).
                var answer = ByteBuffer()
                for try await chunk in response.body where answer.readableBytes < 4096 {
                    answer.writeImmutableBuffer(chunk)
                }
                return (Int(response.status.code), String(String(buffer: answer).prefix(200)))
            }
        } catch {
            throw WebhookError(status: nil, reason: "\(error)")
        }
    }
}
