import Foundation
import Hummingbird
import Logging
import Synchronization

/// An HTTP server that takes webhook POSTs and keeps their bodies and headers; `failFirst` answers that many with
/// `failStatus` (503 unless told) first.
public final class WebhookReceiver: Sendable {
    final class State: Sendable {
        let bodies = Mutex<[Data]>([])
        let traceparents = Mutex<[[String]]>([])
        /// The Standard Webhooks headers (`webhook-id`, `-timestamp`, `-signature`) of every POST, accepted or not.
        let attempts = Mutex<[[String: String]]>([])
        let failures: Mutex<Int>
        init(failFirst: Int) { failures = Mutex(failFirst) }
    }

    public let port: Int
    private let state: State
    private let task: Task<Void, any Error>

    public var url: String { "http://127.0.0.1:\(port)/hook" }
    public var bodies: [Data] { state.bodies.withLock { $0 } }
    /// The `traceparent` headers of each accepted POST (all of them, to tell one from several).
    public var traceparents: [[String]] { state.traceparents.withLock { $0 } }
    /// The `webhook-*` headers of every POST, failed ones included, in order.
    public var attempts: [[String: String]] { state.attempts.withLock { $0 } }

    public static func start(failFirst: Int = 0, failStatus: HTTPResponse.Status = .serviceUnavailable) async throws
        -> WebhookReceiver
    {
        let state = State(failFirst: failFirst)
        let router = Router()
        router.post("hook") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            var webhookHeaders: [String: String] = [:]
            for field in request.headers
            where field.name.canonicalName.hasPrefix("webhook-") || field.name.canonicalName == "content-type" {
                webhookHeaders[field.name.canonicalName] = field.value
            }
            state.attempts.withLock { $0.append(webhookHeaders) }
            let fail = state.failures.withLock { count in
                defer { count = max(0, count - 1) }
                return count > 0
            }
            if fail { return Response(status: failStatus) }
            // The headers first: a test that sees a body may read its headers at once.
            state.traceparents.withLock { $0.append(request.headers.filter { $0.name.canonicalName == "traceparent" }.map(\.value)) }
            state.bodies.withLock { $0.append(Data(body.readableBytesView)) }
            return Response(status: .ok)
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            logger: TestEnvironment.logger("webhook"))
        let task = Task { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw ChildProcessError(description: "the webhook receiver did not start") }
        return WebhookReceiver(port: port, state: state, task: task)
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
