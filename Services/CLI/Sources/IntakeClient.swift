import AsyncHTTPClient
import Foundation
import GreenlightModels
import NIOCore
import NIOHTTP1

/// Talks to intake's HTTP API, turning its answers into values or `CLIError`s with the right exit status.
struct IntakeClient: Sendable {
    let baseURL: String
    let apiKey: String?

    struct Answer {
        var status: Int
        var body: Data
    }

    func get(_ path: String) async throws -> Data {
        try await send(.GET, path, body: nil).body
    }

    func post(_ path: String, json body: some Encodable) async throws -> Data {
        try await send(.POST, path, body: try GreenlightJSON.encode(body)).body
    }

    private func send(_ method: HTTPMethod, _ path: String, body: Data?) async throws -> Answer {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "User-Agent", value: "greenlight-cli")
        if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let answer: Answer
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(15))
            let bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
            answer = Answer(status: Int(response.status.code), body: Data(bytes.readableBytesView))
        } catch {
            throw CLIError(.unavailable, "cannot reach intake at \(baseURL) (\(error)); check --intake-url or GREENLIGHT_INTAKE_URL")
        }
        guard (200..<300).contains(answer.status) else { throw Self.error(for: answer) }
        return answer
    }

    /// A problem-details answer, as a `CLIError` whose message is the problem's own detail.
    static func error(for answer: Answer) -> CLIError {
        let problem = try? GreenlightJSON.decode(Problem.self, from: answer.body)
        var detail = problem?.detail ?? "intake answered \(answer.status)"
        if let errors = problem?.errors, !errors.isEmpty {
            detail += " " + errors.map { "\($0.field): \($0.message)" }.joined(separator: "; ")
        }
        switch answer.status {
        case 401, 403:
            return CLIError(.unauthorised, "\(detail) (pass --api-key or set GREENLIGHT_API_KEY to a key from intake's GREENLIGHT_API_KEYS)")
        case 404: return CLIError(.notFound, detail)
        case 409: return CLIError(.conflict, detail)
        case 502, 503, 504: return CLIError(.unavailable, detail)
        default: return CLIError(.failed, detail)
        }
    }

    static func pathComponent(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? text
    }
}
