/// An RFC 9457 problem-details body (`application/problem+json`): what went wrong and which input to fix.
public struct Problem: Codable, Sendable, Equatable, Error {
    public struct FieldError: Codable, Sendable, Equatable {
        public var field: String
        public var message: String

        public init(field: String, message: String) {
            self.field = field
            self.message = message
        }
    }

    public var type: String
    public var title: String
    public var status: Int
    public var detail: String
    public var errors: [FieldError]?

    public init(type: String = "about:blank", title: String, status: Int, detail: String, errors: [FieldError]? = nil) {
        self.type = type
        self.title = title
        self.status = status
        self.detail = detail
        self.errors = errors
    }

    public static let mediaType = "application/problem+json"

    public static func validation(_ errors: [FieldError]) -> Problem {
        naming(errors, type: "https://greenlight.dev/problems/validation", title: "Invalid request", status: 400)
    }

    /// Fields each valid alone that do not fit together (a reminder after the deadline, a quorum larger than the
    /// approvers…): a 422, which the OpenAPI document lists, since its schema cannot state rules between fields.
    public static func inconsistent(_ errors: [FieldError]) -> Problem {
        naming(
            errors, type: "https://greenlight.dev/problems/inconsistent-fields", title: "Fields do not fit together",
            status: 422)
    }

    /// A decision that does not meet its request's rules: the reason `requireReason` asks for, or answers that do not
    /// fit its `responseSchema` (`comment`, `response.<name>`).
    public static func decisionRules(_ errors: [FieldError]) -> Problem {
        naming(
            errors, type: "https://greenlight.dev/problems/decision-rules",
            title: "The decision does not meet the request's rules", status: 422)
    }

    /// A problem whose detail names each field and what is wrong with it.
    static func naming(_ errors: [FieldError], type: String, title: String, status: Int) -> Problem {
        Problem(
            type: type, title: title, status: status,
            detail: errors.map { "\($0.field): \($0.message)" }.joined(separator: "; "), errors: errors)
    }
}
