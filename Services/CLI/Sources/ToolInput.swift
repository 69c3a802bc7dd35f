import Foundation
import GreenlightModels
import MCP

/// A tool call's arguments, read field by field with errors that name the field and say what it must be.
struct ToolInput {
    let arguments: [String: Value]

    init(_ arguments: [String: Value]) {
        self.arguments = arguments
    }

    func string(_ field: String) throws(ToolInputError) -> String? {
        guard let value = present(field) else { return nil }
        guard let text = value.stringValue else { throw ToolInputError(field: field, message: "must be a string") }
        return text
    }

    func requestId() throws(ToolInputError) -> String {
        guard let id = try string("requestId"), !id.isEmpty else {
            throw ToolInputError(field: "requestId", message: "is required: the id request_approval returned")
        }
        return id
    }

    func strings(_ field: String) throws(ToolInputError) -> [String]? {
        guard let value = present(field) else { return nil }
        guard let items = value.arrayValue, let texts = Optional(items.compactMap(\.stringValue)), texts.count == items.count
        else { throw ToolInputError(field: field, message: "must be an array of strings") }
        return texts
    }

    /// An integer; a double with no fraction counts (JSON has one number type).
    func integer(_ field: String, in range: ClosedRange<Int>) throws(ToolInputError) -> Int? {
        guard let value = present(field) else { return nil }
        let number: Int? =
            switch value {
            case .int(let int): int
            case .double(let double) where double.rounded() == double && abs(double) < 1e15: Int(double)
            default: nil
            }
        guard let number, range.contains(number) else {
            throw ToolInputError(field: field, message: "must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    func object(_ field: String) throws(ToolInputError) -> JSONValue? {
        guard let value = present(field) else { return nil }
        guard value.objectValue != nil, let json = Self.json(value) else {
            throw ToolInputError(field: field, message: "must be a JSON object")
        }
        return json
    }

    func action() throws(ToolInputError) -> AgentAction {
        guard let value = present("action") else {
            throw ToolInputError(field: "action", message: "is required: {\"tool\": the tool you will call, \"arguments\": its exact arguments}")
        }
        guard let members = value.objectValue else { throw ToolInputError(field: "action", message: "must be an object {tool, arguments}") }
        guard let tool = members["tool"]?.stringValue, !tool.isEmpty else {
            throw ToolInputError(field: "action.tool", message: "must name the tool you will call")
        }
        guard let arguments = members["arguments"], arguments.objectValue != nil, let json = Self.json(arguments) else {
            throw ToolInputError(field: "action.arguments", message: "must be a JSON object: the exact arguments you will pass")
        }
        return AgentAction(tool: tool, arguments: json)
    }

    private func present(_ field: String) -> Value? {
        guard let value = arguments[field], value != .null else { return nil }
        return value
    }

    /// The same JSON as a `JSONValue`, through its text (both types are plain JSON).
    static func json(_ value: Value) -> JSONValue? {
        guard let data = try? JSONEncoder().encode(value) else { return nil }
        return try? JSONDecoder().decode(JSONValue.self, from: data)
    }
}

/// Tool arguments that are missing or of the wrong shape: the agent reads `description` and calls again.
struct ToolInputError: Error, CustomStringConvertible {
    var field: String
    var message: String
    var description: String { "\(field) \(message)" }
}
