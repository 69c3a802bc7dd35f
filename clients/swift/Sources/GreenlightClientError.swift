import GreenlightModels

/// Why a call failed. When intake refused the call, `problem` is its problem-details body: `detail` says what to fix
/// and `errors` names each bad field.
public struct GreenlightClientError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The request was refused as malformed (400, 422): `problem.errors` names the fields.
        case invalidRequest
        /// No API key, or one intake does not know (401).
        case unauthorized
        /// The key lacks the scope the call needs (403).
        case forbidden
        /// No request has that id (404).
        case notFound
        /// The request exists already with other content, or is no longer in a state that allows the call (409).
        case conflict
        /// Too many calls (429): retry later.
        case rateLimited
        /// Intake is up but cannot do the work now (502, 503, 504): retry later.
        case unavailable
        /// Intake could not be reached, or the connection failed before an answer.
        case unreachable
        /// An answer this client does not understand (another status, or a body of another shape).
        case unexpectedAnswer
    }

    public var code: Code
    /// The operation that failed.
    public var endpoint: GreenlightEndpoint
    /// The HTTP status intake answered with; nil when there was no answer.
    public var status: Int?
    /// Intake's problem-details body, when it sent one.
    public var problem: Problem?
    /// What went wrong below HTTP (a connection error), or why the answer could not be read.
    public var reason: String?

    public init(code: Code, endpoint: GreenlightEndpoint, status: Int? = nil, problem: Problem? = nil, reason: String? = nil) {
        self.code = code
        self.endpoint = endpoint
        self.status = status
        self.problem = problem
        self.reason = reason
    }

    /// The error for a non-2xx answer.
    static func answer(_ status: Int, problem: Problem?, endpoint: GreenlightEndpoint) -> GreenlightClientError {
        let code: Code =
            switch status {
            case 400, 422: .invalidRequest
            case 401: .unauthorized
            case 403: .forbidden
            case 404: .notFound
            case 409: .conflict
            case 429: .rateLimited
            case 502, 503, 504: .unavailable
            default: .unexpectedAnswer
            }
        return GreenlightClientError(code: code, endpoint: endpoint, status: status, problem: problem)
    }

    public var description: String {
        var text = "\(endpoint.method) \(endpoint.pathTemplate) failed (\(code.rawValue)"
        if let status { text += ", HTTP \(status)" }
        text += ")"
        if let problem {
            text += ": \(problem.detail)"
            // The detail of a validation problem already lists the fields; anything else may add them.
            if let errors = problem.errors, !errors.isEmpty, !problem.detail.contains(errors[0].field) {
                text += " (" + errors.map { "\($0.field): \($0.message)" }.joined(separator: "; ") + ")"
            }
        }
        if let reason { text += ": \(reason)" }
        return text
    }
}
