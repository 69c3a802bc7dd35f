import Foundation
import Hummingbird
import Logging
import Synchronization

/// A local stand-in for Slack's Web API (no network): `users.lookupByEmail`, `chat.postMessage`, `chat.update` and
/// `views.open`, answered the way Slack answers them (`ok`, `error`, `channel`, `ts`), with every call recorded. An
/// address starting `noslack@` is unknown (`users_not_found`); any other maps to a user id made from it
/// (`userId(for:)`). `rateLimitFirst` answers that many `chat.postMessage` calls 429 `ratelimited` with
/// `Retry-After: 1` first. Calls without `Authorization: Bearer <botToken>` get `not_authed`.
public final class FakeSlack: Sendable {
    /// One call as received.
    public struct Call: Sendable {
        public var method: String
        public var body: Data
        public var authorization: String?
        /// Whether the fake answered `ok: true`.
        public var ok: Bool

        /// A JSON body as an object (chat.*, views.open).
        public var json: [String: Any] {
            ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:]
        }

        /// A form body's fields (users.lookupByEmail).
        public var form: [String: String] {
            var fields: [String: String] = [:]
            for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
                if parts.count == 2 { fields[parts[0]] = parts[1] }
            }
            return fields
        }
    }

    final class State: Sendable {
        let calls = Mutex<[Call]>([])
        let nextTs = Mutex(0)
        let rateLimited: Mutex<Int>
        init(rateLimitFirst: Int) { rateLimited = Mutex(rateLimitFirst) }
    }

    public static let botToken = "xoxb-fake-0123456789"

    public let port: Int
    private let state: State
    private let task: Task<Void, any Error>

    /// What `GREENLIGHT_SLACK_API_URL` is set to.
    public var apiURL: String { "http://127.0.0.1:\(port)/api/" }
    public var calls: [Call] { state.calls.withLock { $0 } }
    public func calls(_ method: String) -> [Call] { calls.filter { $0.method == method } }

    /// The Slack user id the fake gives an email address.
    public static func userId(for email: String) -> String {
        "U" + email.uppercased().filter { $0.isLetter || $0.isNumber }
    }

    public static func start(rateLimitFirst: Int = 0) async throws -> FakeSlack {
        let state = State(rateLimitFirst: rateLimitFirst)
        let router = Router()
        router.post("api/:method") { request, context -> Response in
            var request = request
            let method = try context.parameters.require("method")
            let body = Data(try await request.collectBody(upTo: 1 << 20).readableBytesView)
            var call = Call(method: method, body: body, authorization: request.headers[.authorization], ok: false)
            let (json, status, headers) = respond(to: call, state: state)
            call.ok = json["ok"] as? Bool == true
            state.calls.withLock { $0.append(call) }
            return answer(json, status: status, headers: headers)
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            logger: TestEnvironment.logger("fake-slack"))
        let task = Task { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw ChildProcessError(description: "the fake Slack did not start") }
        return FakeSlack(port: port, state: state, task: task)
    }

    /// What Slack would answer to one call.
    private static func respond(to call: Call, state: State) -> ([String: Any], HTTPResponse.Status, HTTPFields) {
        func answer(_ json: [String: Any], status: HTTPResponse.Status = .ok, headers: HTTPFields = [:])
            -> ([String: Any], HTTPResponse.Status, HTTPFields)
        {
            (json, status, headers)
        }
        let method = call.method
        guard call.authorization == "Bearer \(botToken)" else { return answer(["ok": false, "error": "not_authed"]) }
        switch method {
        case "users.lookupByEmail":
            let email = call.form["email"] ?? ""
            if email.isEmpty || email.lowercased().hasPrefix("noslack@") { return answer(["ok": false, "error": "users_not_found"]) }
            return answer(["ok": true, "user": ["id": userId(for: email), "profile": ["email": email]]])
        case "chat.postMessage":
            let limited = state.rateLimited.withLock { count in
                defer { count = max(0, count - 1) }
                return count > 0
            }
            if limited {
                return answer(["ok": false, "error": "ratelimited"], status: .tooManyRequests, headers: [.retryAfter: "1"])
            }
            guard let channel = call.json["channel"] as? String else { return answer(["ok": false, "error": "channel_not_found"]) }
            let ts = state.nextTs.withLock { next in
                next += 1
                return String(format: "1700000000.%06d", next)
            }
            // A user id as the channel is the app's direct message with that person: a D… conversation.
            let conversation = channel.hasPrefix("U") ? "D" + channel.dropFirst() : channel
            return answer(["ok": true, "channel": conversation, "ts": ts])
        case "chat.update":
            let json = call.json
            return answer(["ok": true, "channel": json["channel"] ?? "", "ts": json["ts"] ?? ""])
        case "views.open":
            return answer(["ok": true, "view": ["id": "V1"]])
        default:
            return answer(["ok": false, "error": "unknown_method"])
        }
    }

    private static func answer(_ json: [String: Any], status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        let data = (try? JSONSerialization.data(withJSONObject: json)) ?? Data()
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    private init(port: Int, state: State, task: Task<Void, any Error>) {
        self.port = port
        self.state = state
        self.task = task
    }

    public func stop() async {
        task.cancel()
        _ = await task.result
    }
}
