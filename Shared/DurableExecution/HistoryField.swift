import Foundation
import GreenlightModels

/// One value in a history event's details: a JSON value, or JSON text the engine wrote itself (a checkpointed
/// result, an execution's input), embedded as it is rather than parsed and written again.
public enum HistoryField: Sendable, Equatable {
    case value(JSONValue)
    /// Text that is already JSON. Only for what the engine encoded; text from outside goes through `checked`.
    case raw(String)

    public static func string(_ text: String) -> HistoryField { .value(.string(text)) }
    public static func number(_ number: Double) -> HistoryField { .value(.number(number)) }
    public static func bool(_ flag: Bool) -> HistoryField { .value(.bool(flag)) }
    public static let null = HistoryField.value(.null)

    /// JSON text from outside the engine (a callback's result): embedded when it is JSON, as a string otherwise.
    static func checked(_ text: String?) -> HistoryField {
        guard let text else { return .null }
        if (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) != nil {
            return .raw(text)
        }
        return .string(text)
    }

    /// The details object as JSON text, keys sorted.
    static func object(_ details: [String: HistoryField]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        JSONValue.writeObject(details.sorted { $0.key < $1.key }, into: &out) { field, out in
            switch field {
            case .value(let value): value.write(into: &out)
            case .raw(let text): out.append(contentsOf: text.utf8)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
