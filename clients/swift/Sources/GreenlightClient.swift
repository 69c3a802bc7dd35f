import AsyncHTTPClient
import Foundation
import GreenlightModels
import NIOCore
import NIOHTTP1

/// A program's way to Greenlight: submit an approval request, read its status, wait for its outcome (over intake's
/// long-poll, without Kafka), and verify the webhooks Greenlight signs (`GreenlightClient.verifyWebhook`).
///
/// ```swift
/// let greenlight = GreenlightClient(baseURL: "https://greenlight.example.com", apiKey: key)
/// let accepted = try await greenlight.submit(ApprovalRequestBody(requestId: "deploy-42", title: "Deploy 42", ...))
/// let outcome = try await greenlight.waitForOutcome(accepted.requestId, timeout: .seconds(600))
/// ```
///
/// Every failure is a `GreenlightClientError`; when intake refused the call it carries intake's problem body.
public struct GreenlightClient: Sendable {
    /// The longest single wait intake grants (`?wait=` is 0…60 seconds); longer waits repeat the long-poll.
    public static let longestPoll: Duration = .seconds(60)
    /// How long `waitForOutcome` takes "no such request" for "not recorded yet": intake answers 202 once the request
    /// is queued, and its workflow records it moments later.
    public static let recordingGrace: Duration = .seconds(10)

    public let baseURL: String
    let apiKey: String?
    let httpClient: HTTPClient
    let userAgent: String
    let requestTimeout: Int64

    /// `baseURL` is intake's (for example `http://127.0.0.1:8080`); `apiKey` the secret of one of its
    /// `GREENLIGHT_API_KEYS`, sent as `Authorization: Bearer <secret>` (submit needs the `submit` scope, status and
    /// waiting `read`); nil where intake runs with `GREENLIGHT_INTAKE_AUTH=none`. `requestTimeout` bounds each call
    /// (a long-poll gets its wait on top); AsyncHTTPClient keeps retrying a refused connection until then.
    public init(
        baseURL: String, apiKey: String?, httpClient: HTTPClient = .shared, userAgent: String = "greenlight-swift-client",
        requestTimeout: Duration = .seconds(30)
    ) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.apiKey = apiKey.flatMap { $0.isEmpty ? nil : $0 }
        self.httpClient = httpClient
        self.userAgent = userAgent
        self.requestTimeout = max(1, requestTimeout.components.seconds)
    }

    /// Submits an approval request; intake answers once the request is recorded (its workflow starts moments later).
    /// Submitting the same `requestId` with the same content again is harmless; with other content it is a conflict.
    public func submit(_ request: ApprovalRequestBody) async throws -> RequestAccepted {
        let body: Data
        do {
            body = try GreenlightJSON.encode(request)
        } catch {
            throw GreenlightClientError(code: .invalidRequest, endpoint: .submit, reason: "cannot encode the request: \(error)")
        }
        let answer = try await send(.submit, path: GreenlightEndpoint.submit.path(), body: body, timeout: requestTimeout)
        return try decode(RequestAccepted.self, answer, endpoint: .submit)
    }

    /// The request's state now.
    public func status(_ requestId: String) async throws -> RequestStatusBody {
        let answer = try await send(.status, path: GreenlightEndpoint.status.path(requestId: requestId), timeout: requestTimeout)
        return try decode(RequestStatusBody.self, answer, endpoint: .status)
    }

    /// One long-poll: the request's state as soon as it has ended, or after `wait` (at most `longestPoll`) with the
    /// status still `pending`.
    public func outcome(_ requestId: String, wait: Duration) async throws -> RequestStatusBody {
        try await poll(requestId, seconds: Self.seconds(wait)).status
    }

    /// Waits until the request ends (approved, rejected, timed out, cancelled, failed) and returns its final state;
    /// after `timeout` returns its state then, still `pending`. Repeats intake's long-poll, so an outcome arrives as
    /// soon as it is written, not at the next poll. A request submitted a moment ago may not be recorded yet: "no such
    /// request" counts only after `recordingGrace`. Cancelling the calling task ends the wait at once
    /// (`CancellationError`).
    public func waitForOutcome(_ requestId: String, timeout: Duration) async throws -> RequestStatusBody {
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = started + timeout
        while true {
            try Task.checkCancellation()
            let remaining = clock.now.duration(to: deadline)
            let seconds = Self.seconds(remaining)
            let asked = clock.now
            let status: RequestStatusBody
            let retryAfter: Duration
            do {
                (status, retryAfter) = try await poll(requestId, seconds: seconds)
            } catch let error as GreenlightClientError
                where error.code == .notFound && clock.now < min(deadline, started + Self.recordingGrace)
            {
                try await Task.sleep(for: .milliseconds(250))
                continue
            } catch let error as GreenlightClientError where error.code == .unavailable && clock.now < deadline {
                // Intake could not read the status store in time (it answers 503 with Retry-After): a wait is not
                // over because one look failed; the last such error is thrown if the wait runs out on it.
                try await Task.sleep(for: min(.seconds(1), clock.now.duration(to: deadline)))
                if clock.now >= deadline { throw error }
                continue
            }
            if status.status != .pending || clock.now >= deadline { return status }
            // Intake answered before the wait asked for (it keeps a wait shorter under load, or is an older version
            // without long-poll): pause as it says instead of asking again at once.
            if clock.now - asked < .seconds(seconds) {
                try await Task.sleep(for: min(retryAfter, clock.now.duration(to: deadline)))
            }
        }
    }

    // MARK: - HTTP

    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: Data
    }

    /// Whole seconds for `?wait=`, rounded up (a wait never ends early), from 0 to `longestPoll`.
    static func seconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, duration > .zero else { return 0 }
        return Int(min(seconds + (attoseconds > 0 ? 1 : 0), longestPoll.components.seconds))
    }

    private func poll(_ requestId: String, seconds: Int) async throws -> (status: RequestStatusBody, retryAfter: Duration) {
        let path = GreenlightEndpoint.outcome.path(requestId: requestId) + "?wait=\(seconds)"
        let answer = try await send(.outcome, path: path, timeout: Int64(seconds) + requestTimeout)
        let retryAfter = answer.headers.first(name: "Retry-After").flatMap(Int.init).map { Duration.seconds($0) } ?? .seconds(1)
        return (try decode(RequestStatusBody.self, answer, endpoint: .outcome), retryAfter)
    }

    private func send(_ endpoint: GreenlightEndpoint, path: String, body: Data? = nil, timeout seconds: Int64) async throws
        -> Answer
    {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = HTTPMethod(rawValue: endpoint.method)
        request.headers.add(name: "User-Agent", value: userAgent)
        request.headers.add(name: "Accept", value: "application/json, \(Problem.mediaType)")
        if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let answer: Answer
        do {
            let response = try await httpClient.execute(request, timeout: .seconds(seconds))
            let bytes = try await response.body.collect(upTo: 8 * 1024 * 1024)
            answer = Answer(status: Int(response.status.code), headers: response.headers, body: Data(bytes.readableBytesView))
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw GreenlightClientError(
                code: .unreachable, endpoint: endpoint, reason: "cannot reach intake at \(baseURL): \(error)")
        }
        guard (200..<300).contains(answer.status) else {
            let problem = try? GreenlightJSON.decoder().decode(Problem.self, from: answer.body)
            throw GreenlightClientError.answer(answer.status, problem: problem, endpoint: endpoint)
        }
        return answer
    }

    private func decode<T: Decodable>(_ type: T.Type, _ answer: Answer, endpoint: GreenlightEndpoint) throws -> T {
        do {
            return try GreenlightJSON.decoder().decode(type, from: answer.body)
        } catch {
            throw GreenlightClientError(
                code: .unexpectedAnswer, endpoint: endpoint, status: answer.status,
                reason: "the answer is not the \(T.self) this client expects: \(error)")
        }
    }
}
