import Foundation

/// The intake operations the client calls: the one list of what it depends on in intake's API, used both to build
/// its requests and by the test that checks them against deploy/openapi.yaml.
public enum GreenlightEndpoint: String, CaseIterable, Sendable {
    /// `POST /v1/requests`: submit an approval request.
    case submit
    /// `GET /v1/requests/{requestId}`: a request's state now.
    case status
    /// `GET /v1/requests/{requestId}/outcome?wait=N`: a request's state once it has ended, or after the wait.
    case outcome

    public var method: String {
        switch self {
        case .submit: "POST"
        case .status, .outcome: "GET"
        }
    }

    /// The path as OpenAPI writes it.
    public var pathTemplate: String {
        switch self {
        case .submit: "/v1/requests"
        case .status: "/v1/requests/{requestId}"
        case .outcome: "/v1/requests/{requestId}/outcome"
        }
    }

    /// The query parameters the client sends.
    public var queryParameters: [String] {
        self == .outcome ? ["wait"] : []
    }

    /// The path for one request, its id percent-encoded as one path segment.
    func path(requestId: String? = nil) -> String {
        guard let requestId else { return pathTemplate }
        let segment = requestId.addingPercentEncoding(withAllowedCharacters: Self.segmentCharacters) ?? requestId
        return pathTemplate.replacingOccurrences(of: "{requestId}", with: segment)
    }

    private static let segmentCharacters = CharacterSet.urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))
}
