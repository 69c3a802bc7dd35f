import Foundation

/// Any JSON value: callback results and history details, whose shape belongs to the workflow.
public enum JSONValue: Codable, Sendable, Equatable, Hashable {
    /// The same value with every object member named in `keys` removed, at any depth; objects nested in
    /// strings (a checkpointed result is JSON text) are parsed, cleaned and written back.
    public func removingKeys(_ keys: Set<String>) -> JSONValue {
        switch self {
        case .object(let members):
            var kept: [String: JSONValue] = [:]
            for (key, value) in members where !keys.contains(key) { kept[key] = value.removingKeys(keys) }
            return .object(kept)
        case .array(let items):
            return .array(items.map { $0.removingKeys(keys) })
        case .string(let text) where text.hasPrefix("{") || text.hasPrefix("["):
            guard let parsed = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)),
                let cleaned = try? JSONEncoder().encode(parsed.removingKeys(keys))
            else { return self }
            return .string(String(decoding: cleaned, as: UTF8.self))
        default:
            return self
        }
    }

    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }
}
