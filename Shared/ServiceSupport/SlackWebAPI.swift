import AsyncHTTPClient
import Foundation
import GreenlightModels
import NIOCore

/// The Slack settings the notifier and the callback receiver share: the bot token their Web API calls carry
/// (`GREENLIGHT_SLACK_BOT_TOKEN`) and the Web API's base (`GREENLIGHT_SLACK_API_URL`, a local fake in tests).
public struct SlackSettings: Sendable {
    public var botToken: String
    /// Ends with `/`: a method's URL is this followed by its name (`chat.postMessage`).
    public var apiURL: String

    public init(botToken: String, apiURL: String) {
        self.botToken = botToken
        self.apiURL = apiURL.hasSuffix("/") ? apiURL : apiURL + "/"
    }
}

/// `GREENLIGHT_SLACK_BOT_TOKEN` and `GREENLIGHT_SLACK_API_URL`; nil when no bot token is set (Slack is off). The
/// token is masked in the banner.
public func readSlackSettings(_ reader: inout EnvironmentReader) -> SlackSettings? {
    let token = reader.optional("GREENLIGHT_SLACK_BOT_TOKEN", secret: true)
    let api = reader.string("GREENLIGHT_SLACK_API_URL", default: "https://slack.com/api/")
    let url = URL(string: api)
    if url?.host == nil || !["http", "https"].contains(url?.scheme ?? "") {
        reader.report("GREENLIGHT_SLACK_API_URL must be an absolute http(s) URL such as https://slack.com/api/, not \"\(api)\"")
    }
    if let token, !token.hasPrefix("xoxb-"), !token.hasPrefix("xoxp-") {
        reader.report("GREENLIGHT_SLACK_BOT_TOKEN must be a Slack bot token (xoxb-…) from the app's OAuth & Permissions page")
    }
    return token.map { SlackSettings(botToken: $0, apiURL: api) }
}

/// Why a Slack Web API call failed, and whether trying again can help. Never carries the token.
public struct SlackError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Slack answered `ratelimited` (HTTP 429): try again after `Retry-After` seconds.
        case rateLimited(retryAfter: Int)
        /// Slack answered `ok: false` with this error code (`users_not_found`, `channel_not_found`…).
        case api(String)
        /// An HTTP status other than 200 or 429.
        case http(Int)
        /// Slack could not be reached, or its answer was not JSON.
        case unreachable(String)
    }

    public var method: String
    public var kind: Kind

    public init(method: String, kind: Kind) {
        self.method = method
        self.kind = kind
    }

    /// Codes that a later attempt may not get: Slack's own trouble. Every other `ok: false` is a setting or an
    /// address to fix (a missing scope, a person Slack does not know), which retrying does not mend.
    static let transientCodes: Set<String> = ["internal_error", "fatal_error", "service_unavailable", "request_timeout"]

    public var isPermanent: Bool {
        switch kind {
        case .rateLimited, .unreachable: false
        case .api(let code): !Self.transientCodes.contains(code)
        case .http(let status): status != 408 && (400..<500).contains(status)
        }
    }

    public var retryAfter: Int? {
        if case .rateLimited(let seconds) = kind { return seconds }
        return nil
    }

    public var description: String {
        switch kind {
        case .rateLimited(let seconds): "Slack's \(method) is rate-limited: retry after \(seconds) s"
        case .api(let code): "Slack's \(method) answered \(code)"
        case .http(let status): "Slack's \(method) answered HTTP \(status)"
        case .unreachable(let reason): "Slack's \(method) could not be reached: \(reason)"
        }
    }
}

/// The few Slack Web API methods Greenlight calls, one HTTP request each (the callers retry: the notifier through
/// its durable queue). JSON bodies with the bot token as a bearer token, except `users.lookupByEmail`, which takes
/// a form.
public struct SlackWebAPI: Sendable {
    public let settings: SlackSettings

    public init(settings: SlackSettings) {
        self.settings = settings
    }

    /// Without AsyncHTTPClient's client span, whose URL attribute is harmless but whose headers could carry the token
    /// to a collector in a later version; one client for the life of the process.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.tracing.tracer = nil
        return HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup, configuration: configuration)
    }()

    /// The Slack user id of the person with this email (`users.lookupByEmail`, scope `users:read.email`).
    public func lookUpUser(email: String) async throws(SlackError) -> String {
        let answer = try await call("users.lookupByEmail", form: [("email", email)])
        guard let id = answer["user"]?["id"]?.stringValue else {
            throw SlackError(method: "users.lookupByEmail", kind: .api("no_user_id"))
        }
        return id
    }

    /// Posts a message (`chat.postMessage`, scope `chat:write`); a user id as `channel` is the app's direct message
    /// with that person. The conversation and the message's `ts`, which name it for `chat.update`.
    public func postMessage(channel: String, text: String, blocks: JSONValue) async throws(SlackError)
        -> (channel: String, ts: String)
    {
        let answer = try await call(
            "chat.postMessage", json: .object(["channel": .string(channel), "text": .string(text), "blocks": blocks]))
        guard let posted = answer["channel"]?.stringValue, let ts = answer["ts"]?.stringValue else {
            throw SlackError(method: "chat.postMessage", kind: .api("no_channel_or_ts"))
        }
        return (posted, ts)
    }

    /// Replaces a message the app posted (`chat.update`).
    public func updateMessage(channel: String, ts: String, text: String, blocks: JSONValue) async throws(SlackError) {
        _ = try await call(
            "chat.update",
            json: .object(["channel": .string(channel), "ts": .string(ts), "text": .string(text), "blocks": blocks]))
    }

    /// Opens a modal for the person whose interaction gave `triggerId` (`views.open`; a trigger lasts 3 seconds).
    public func openView(triggerId: String, view: JSONValue) async throws(SlackError) {
        _ = try await call("views.open", json: .object(["trigger_id": .string(triggerId), "view": view]))
    }

    // MARK: - Calls

    func call(_ method: String, json: JSONValue) async throws(SlackError) -> JSONValue {
        let body = (try? GreenlightJSON.encode(json)) ?? Data()
        return try await call(method, body: body, contentType: "application/json; charset=utf-8")
    }

    func call(_ method: String, form: [(String, String)]) async throws(SlackError) -> JSONValue {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let text = form.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
        return try await call(method, body: Data(text.utf8), contentType: "application/x-www-form-urlencoded")
    }

    private func call(_ method: String, body: Data, contentType: String) async throws(SlackError) -> JSONValue {
        var request = HTTPClientRequest(url: settings.apiURL + method)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        request.headers.add(name: "Authorization", value: "Bearer \(settings.botToken)")
        request.headers.add(name: "User-Agent", value: "greenlight")
        request.body = .bytes(ByteBuffer(bytes: body))
        let status: Int
        let retryAfter: String?
        let answer: ByteBuffer
        do {
            let response = try await Self.client.execute(request, timeout: .seconds(10))
            status = Int(response.status.code)
            retryAfter = response.headers.first(name: "Retry-After")
            answer = try await response.body.collect(upTo: 1 << 20)
        } catch {
            throw SlackError(method: method, kind: .unreachable("\(error)"))
        }
        if status == 429 {
            throw SlackError(method: method, kind: .rateLimited(retryAfter: retryAfter.flatMap { Int($0) } ?? 30))
        }
        guard status == 200 else { throw SlackError(method: method, kind: .http(status)) }
        guard let json = try? JSONDecoder().decode(JSONValue.self, from: Data(answer.readableBytesView)) else {
            throw SlackError(method: method, kind: .unreachable("the answer is not JSON"))
        }
        guard json["ok"] == .bool(true) else {
            let code = json["error"]?.stringValue ?? "unknown_error"
            if code == "ratelimited" {
                throw SlackError(method: method, kind: .rateLimited(retryAfter: retryAfter.flatMap { Int($0) } ?? 30))
            }
            throw SlackError(method: method, kind: .api(code))
        }
        return json
    }
}
