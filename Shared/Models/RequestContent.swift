import Foundation

/// A related URL shown with a request (a pull request, a ticket, a dashboard). Shown to approvers, never fetched by
/// Greenlight.
public struct RequestLink: Codable, Sendable, Equatable {
    public var url: String
    public var label: String?

    public init(url: String, label: String? = nil) {
        self.url = url
        self.label = label
    }

    private enum CodingKeys: String, CodingKey, CaseIterable { case url, label }

    public init(from decoder: any Decoder) throws {
        try AnyKey.refuseUnknown(in: decoder, allowed: CodingKeys.allCases.map(\.rawValue), of: "a link")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        url = try container.decode(String.self, forKey: .url)
        label = try container.decodeIfPresent(String.self, forKey: .label)
    }
}

/// The tool call an agent asks to make: shown to the approver exactly, and bound to the outcome by its digest.
public struct AgentAction: Codable, Sendable, Equatable {
    public var tool: String
    /// The call's arguments: a JSON object.
    public var arguments: JSONValue

    public init(tool: String, arguments: JSONValue) {
        self.tool = tool
        self.arguments = arguments
    }

    private enum CodingKeys: String, CodingKey, CaseIterable { case tool, arguments }

    /// Only `tool` and `arguments`: anything else beside them would not be part of what the digest binds.
    public init(from decoder: any Decoder) throws {
        try AnyKey.refuseUnknown(in: decoder, allowed: CodingKeys.allCases.map(\.rawValue), of: "an action")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        tool = try container.decode(String.self, forKey: .tool)
        arguments = try container.decode(JSONValue.self, forKey: .arguments)
    }

    /// The action as one JSON value, `{"arguments": …, "tool": …}`: what its digest is taken of.
    public var json: JSONValue { .object(["tool": .string(tool), "arguments": arguments]) }

    /// The lowercase hex SHA-256 of the action's RFC 8785 canonical JSON. An agent that computes it over the action
    /// it is about to run and finds the outcome's `actionDigest` runs exactly what was approved.
    public var digest: String { JSONCanonical.sha256(json) }
}

/// When a decision must give its reason (the decision's `comment`).
public enum ReasonRequirement: String, Codable, Sendable, CaseIterable {
    /// A rejection must say why.
    case reject
    /// Every decision must say why.
    case always

    public func requires(_ decision: Decision) -> Bool { self == .always || decision == .reject }
}

/// What a request shows and asks beyond its core fields: kept with the request, shown on the review page and in
/// the email, and (`metadata`, `actionDigest`) echoed in its outcome.
public struct RequestContent: Codable, Sendable, Equatable {
    public var title: String?
    /// An object, shown as a table.
    public var details: JSONValue?
    public var links: [RequestLink]?
    /// An object of the requester's own, never shown to approvers; echoed in every outcome and lifecycle event.
    public var metadata: JSONValue?
    public var responseSchema: ResponseSchema?
    public var requireReason: ReasonRequirement?
    public var action: AgentAction?
    public var actionDigest: String?

    public init(
        title: String? = nil, details: JSONValue? = nil, links: [RequestLink]? = nil, metadata: JSONValue? = nil,
        responseSchema: ResponseSchema? = nil, requireReason: ReasonRequirement? = nil, action: AgentAction? = nil
    ) {
        self.title = title
        self.details = details
        self.links = links
        self.metadata = metadata
        self.responseSchema = responseSchema
        self.requireReason = requireReason
        self.action = action
        actionDigest = action?.digest
    }

    public var isEmpty: Bool { self == RequestContent() }

    /// Checks a decision against the request's rules: its reason (`requireReason`) and its answers
    /// (`responseSchema`). An empty list means the decision may count. Field names are the decision body's
    /// (`comment`, `response.<name>`).
    public func check(_ decision: Decision, comment: String?, response: JSONValue?) -> [Problem.FieldError] {
        var errors: [Problem.FieldError] = []
        if let requireReason, requireReason.requires(decision),
            (comment ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        {
            let when = requireReason == .always ? "every decision on this request" : "a rejection of this request"
            errors.append(.init(field: "comment", message: "is required: \(when) must give its reason"))
        }
        if let responseSchema {
            errors += responseSchema.check(response)
        } else if let response, response != .object([:]) {
            errors.append(.init(field: "response", message: "is not asked for by this request (it has no responseSchema)"))
        }
        return errors
    }
}

/// The bounds a request's free-form JSON must keep.
public enum ContentLimits {
    public static let titleMaxLength = 200
    public static let detailsMaxBytes = 16 * 1024
    public static let metadataMaxBytes = 4 * 1024
    public static let actionMaxBytes = 16 * 1024
    public static let maxDepth = 8
    public static let maxLinks = 20
    public static let urlMaxLength = 2048
    public static let labelMaxLength = 200
    public static let toolMaxLength = 200

    /// Field errors for a JSON value that must be an object within `maxBytes` (compact) and `maxDepth`.
    static func checkObject(_ value: JSONValue, field: String, maxBytes: Int) -> [Problem.FieldError] {
        guard case .object = value else { return [.init(field: field, message: "must be a JSON object")] }
        if value.depth > maxDepth {
            return [.init(field: field, message: "must nest at most \(maxDepth) levels deep")]
        }
        let size = value.jsonText.utf8.count
        if size > maxBytes {
            return [.init(field: field, message: "must be at most \(maxBytes) bytes as compact JSON (it is \(size))")]
        }
        return []
    }
}

extension JSONValue {
    /// How deeply arrays and objects nest: 0 for a scalar, 1 for `{}` or `[1]`.
    public var depth: Int {
        switch self {
        case .array(let items): 1 + (items.map(\.depth).max() ?? 0)
        case .object(let members): 1 + (members.values.map(\.depth).max() ?? 0)
        default: 0
        }
    }
}
