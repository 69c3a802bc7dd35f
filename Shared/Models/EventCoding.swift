import Foundation

/// The one JSON coding every service uses for events and HTTP bodies: ISO 8601 dates with fractional seconds,
/// sorted keys (stable bytes for the same value).
public enum GreenlightJSON {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamp.format(date))
        }
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = Timestamp.parse(text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "expected an ISO 8601 date such as 2026-01-31T12:00:00Z")
            }
            return date
        }
        return decoder
    }

    public static func encode(_ value: some Encodable) throws -> Data {
        try encoder().encode(value)
    }
}

/// ISO 8601 timestamps in UTC, e.g. `2026-11-27T02:42:56.123Z`.
public enum Timestamp {
    /// Rounds to the millisecond (parse then format gives back the same text, so values survive any number of
    /// round trips unchanged).
    public static func format(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        let fraction = milliseconds - seconds * 1000
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
            parts.tm_hour, parts.tm_min, parts.tm_sec, Int(fraction))
    }

    public static func parse(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true)) {
            return date
        }
        return try? Date(text, strategy: .iso8601)
    }
}

/// Why an event on a topic could not be read.
public struct EventDecodingError: Error, CustomStringConvertible {
    public var topic: String
    public var reason: String
    public var description: String { "cannot read event on \(topic): \(reason)" }
}

/// The events the orchestrator consumes, told apart by their `type` field.
public enum InboundEvent: Sendable, Equatable {
    case approvalRequested(ApprovalRequested)
    case decisionSubmitted(DecisionSubmitted)
    case callbackCommand(CallbackCommand)
    case cancelRequested(CancelRequested)
    case notificationDelivery(NotificationDelivery)
    case resendRequested(ResendRequested)

    private struct TypeProbe: Decodable {
        var type: String
        var version: Int?
    }

    /// The event's id and the request it belongs to.
    public var identity: (eventId: UUID, requestId: String) {
        switch self {
        case .approvalRequested(let event): return (event.eventId, event.requestId)
        case .decisionSubmitted(let event): return (event.eventId, event.requestId)
        case .callbackCommand(let event): return (event.eventId, event.requestId)
        case .cancelRequested(let event): return (event.eventId, event.requestId)
        case .notificationDelivery(let event): return (event.eventId, event.requestId)
        case .resendRequested(let event): return (event.eventId, event.requestId)
        }
    }

    public static func decode(_ data: [UInt8], topic: String) throws -> InboundEvent {
        let decoder = GreenlightJSON.decoder()
        let bytes = Data(data)
        let probe: TypeProbe
        do {
            probe = try decoder.decode(TypeProbe.self, from: bytes)
        } catch {
            throw EventDecodingError(topic: topic, reason: "not a JSON object with a string field \"type\"")
        }
        if let version = probe.version, version != 1 {
            throw EventDecodingError(topic: topic, reason: "\(probe.type) schema version \(version) is not supported")
        }
        do {
            switch probe.type {
            case ApprovalRequested.eventType:
                return .approvalRequested(try decoder.decode(ApprovalRequested.self, from: bytes))
            case DecisionSubmitted.eventType:
                return .decisionSubmitted(try decoder.decode(DecisionSubmitted.self, from: bytes))
            case CallbackCommand.eventType:
                return .callbackCommand(try decoder.decode(CallbackCommand.self, from: bytes))
            case CancelRequested.eventType:
                return .cancelRequested(try decoder.decode(CancelRequested.self, from: bytes))
            case NotificationDelivery.eventType:
                return .notificationDelivery(try decoder.decode(NotificationDelivery.self, from: bytes))
            case ResendRequested.eventType:
                return .resendRequested(try decoder.decode(ResendRequested.self, from: bytes))
            default:
                throw EventDecodingError(topic: topic, reason: "unknown event type \"\(probe.type)\"")
            }
        } catch let error as DecodingError {
            throw EventDecodingError(topic: topic, reason: "\(probe.type): \(DecodingErrorDescription(error))")
        }
    }
}

/// A short, data-free account of a `DecodingError`: which field, and what was wrong with it.
public struct DecodingErrorDescription: CustomStringConvertible {
    public var field: String
    public var problem: String

    public init(_ error: DecodingError) {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
                .replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context):
            field = path(context.codingPath + [key])
            problem = "is required"
        case .typeMismatch(let type, let context):
            field = path(context.codingPath)
            problem = "must be \(Self.describe(type))"
        case .valueNotFound(let type, let context):
            field = path(context.codingPath)
            problem = "must be \(Self.describe(type)), not null"
        case .dataCorrupted(let context):
            field = path(context.codingPath)
            problem = context.codingPath.isEmpty ? "the body is not valid JSON" : context.debugDescription
        @unknown default:
            field = ""
            problem = "cannot be read"
        }
    }

    /// A data-free description of any decoding failure.
    public static func describe(_ error: any Error) -> String {
        if let error = error as? DecodingError { return DecodingErrorDescription(error).description }
        return "the bytes are not valid JSON"
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Double.Type, is Float.Type: return "a number"
        case is Int.Type: return "an integer"
        case is Bool.Type: return "true or false"
        case is [String].Type: return "an array of strings"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "a value of type \(name)"
        }
    }

    public var description: String { field.isEmpty ? problem : "\(field) \(problem)" }
}
