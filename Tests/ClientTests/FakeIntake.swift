import Foundation
import GreenlightTestSupport
import Hummingbird
import Synchronization

/// An HTTP server that answers as intake does, for the client's own behaviour: problems, its key, the long-poll's
/// 202s and Retry-After, a wait that never ends. (The client against the real services is in EndToEndTests.)
final class FakeIntake: Sendable {
    static let key = "client-test-key-0123456789"

    final class Polls: Sendable {
        let list = Mutex<[String]>([])
    }

    let port: Int
    private let task: Task<Void, any Error>
    private let polls: Polls

    var url: String { "http://127.0.0.1:\(port)" }
    /// Each long-poll's request id and `wait`, in order.
    var outcomePolls: [String] { polls.list.withLock { $0 } }

    static func status(_ requestId: String, _ status: String) -> String {
        """
        {"requestId": "\(requestId)", "executionId": "8F0C1A2B-3C4D-4E5F-8A9B-0C1D2E3F4A5B", "status": "\(status)",
         "amount": 1, "currency": "USD", "description": "d", "approvers": ["a@example.com"],
         "submittedAt": "2026-11-30T08:00:00.000Z", "expiresAt": "2026-12-01T08:00:00.000Z"}
        """
    }

    static func problem(_ status: Int, _ detail: String, field: String? = nil) -> String {
        let errors = field.map { #", "errors": [{"field": "\#($0)", "message": "must be fixed"}]"# } ?? ""
        return #"{"type": "about:blank", "title": "Refused", "status": \#(status), "detail": "\#(detail)"\#(errors)}"#
    }

    static func start() async throws -> FakeIntake {
        let polls = Polls()
        let router = Router()
        router.post("v1/requests") { request, _ -> Response in
            guard authorised(request) else { return json(problem(401, "This call needs an API key"), .unauthorized) }
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            let fields = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] ?? [:]
            let id = fields["requestId"] as? String ?? ""
            if id == "bad id" { return json(problem(400, "requestId: must be letters", field: "requestId"), .badRequest) }
            let title = fields["title"] as? String ?? ""
            return json(
                #"{"message": "Accepted: \#(title)", "requestId": "\#(id)", "statusUrl": "/v1/requests/\#(id)"}"#, .accepted)
        }
        router.get("v1/requests/:requestId") { request, context -> Response in
            guard authorised(request) else { return json(problem(401, "This call needs an API key"), .unauthorized) }
            let id = try context.parameters.require("requestId")
            guard id != "missing" else { return json(problem(404, "No request missing"), .notFound) }
            return json(status(id, "pending"), .ok)
        }
        router.get("v1/requests/:requestId/outcome") { request, context -> Response in
            let id = try context.parameters.require("requestId")
            let wait = request.uri.queryParameters.get("wait", as: Int.self) ?? -1
            let count = polls.list.withLock { polls in
                polls.append("\(id) wait=\(wait)")
                return polls.filter { $0.hasPrefix("\(id) ") }.count
            }
            switch id {
            case "decided-on-third":
                // Answers at once, as an intake under load may: the client must pause as Retry-After says.
                if count < 3 {
                    var response = json(status(id, "pending"), .accepted)
                    response.headers[.retryAfter] = "0"
                    return response
                }
                return json(status(id, "approved"), .ok)
            case "recorded-later":
                // Accepted, but not yet recorded by its workflow for the first two polls.
                return count < 3 ? json(problem(404, "No request recorded-later"), .notFound) : json(status(id, "approved"), .ok)
            case "missing":
                return json(problem(404, "No request missing"), .notFound)
            case "unavailable":
                return json(problem(503, "The database is unreachable; retry shortly"), .serviceUnavailable)
            default:
                // Holds the wait in full, as intake does while nothing happens.
                try await Task.sleep(for: .seconds(max(0, wait)))
                return json(status(id, "pending"), .accepted)
            }
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            logger: TestEnvironment.logger("fake-intake"))
        let task = Task { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw ChildProcessError(description: "the fake intake did not start") }
        return FakeIntake(port: port, task: task, polls: polls)
    }

    private init(port: Int, task: Task<Void, any Error>, polls: Polls) {
        self.port = port
        self.task = task
        self.polls = polls
    }

    static func json(_ text: String, _ status: HTTPResponse.Status) -> Response {
        Response(
            status: status, headers: [.contentType: status.code >= 400 ? "application/problem+json" : "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    static func authorised(_ request: Request) -> Bool { request.headers[.authorization] == "Bearer \(key)" }

    func stop() async {
        task.cancel()
        _ = await task.result
    }

    static func with<T>(_ body: (FakeIntake) async throws -> T) async throws -> T {
        let intake = try await start()
        do {
            let result = try await body(intake)
            await intake.stop()
            return result
        } catch {
            await intake.stop()
            throw error
        }
    }
}
