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

    /// Encodes with the one shared encoder (making an encoder per call was a third of what encoding an event cost).
    public static func encode(_ value: some Encodable) throws -> Data {
        try shared.encoder.encode(value)
    }

    /// Decodes with the one shared decoder.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try shared.decoder.decode(type, from: data)
    }

    /// Made once, never changed afterwards: Foundation's coders may then be used from any thread at once. (`encoder()`
    /// and `decoder()` still make new ones, for a caller that changes a setting.)
    private static let shared = (encoder: encoder(), decoder: decoder())
}

/// ISO 8601 timestamps in UTC, e.g. `2026-11-27T02:42:56.123Z`.
public enum Timestamp {
    /// Rounds to the millisecond (parse then format gives back the same text, so values survive any number of
    /// round trips unchanged).
    public static func format(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        let fraction = milliseconds - seconds * 1000
        let parts = utcParts(seconds)
        var out: [UInt8] = []
        out.reserveCapacity(24)
        appendDayAndMinute(parts, separator: "T", to: &out)
        out.append(UInt8(ascii: ":"))
        Digits.append(Int(parts.tm_sec), width: 2, to: &out)
        out.append(UInt8(ascii: "."))
        Digits.append(Int(fraction), width: 3, to: &out)
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    /// `2026-11-27` + separator + `02:42`: the part every written timestamp shares.
    static func appendDayAndMinute(_ parts: tm, separator: Unicode.Scalar, to out: inout [UInt8]) {
        Digits.append(Int(parts.tm_year) + 1900, width: 4, to: &out)
        out.append(UInt8(ascii: "-"))
        Digits.append(Int(parts.tm_mon) + 1, width: 2, to: &out)
        out.append(UInt8(ascii: "-"))
        Digits.append(Int(parts.tm_mday), width: 2, to: &out)
        out.append(UInt8(ascii: separator))
        Digits.append(Int(parts.tm_hour), width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        Digits.append(Int(parts.tm_min), width: 2, to: &out)
    }

    /// The calendar fields of a Unix time in UTC.
    static func utcParts(_ seconds: Int64) -> tm {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        return parts
    }

    public static func parse(_ text: String) -> Date? {
        if let date = parseCommon(text) { return date }
        // Foundation's parser rolls a field out of range over (minute 99 into the next hour, 30 February into March):
        // a date that is not one is refused, not read as another.
        guard fieldsInRange(text) else { return nil }
        if let date = try? Date(text, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true)) {
            return date
        }
        return try? Date(text, strategy: .iso8601)
    }

    /// Whether the calendar date and the time of day at the start of `text` (`YYYY-MM-DD`, then `Thh:mm` and `:ss`
    /// where given) name a real day and time; true for text of another shape, which the parser judges alone.
    static func fieldsInRange(_ text: String) -> Bool {
        let bytes = Array(text.utf8.prefix(19))
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[from..<from + count] {
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        func at(_ index: Int, _ ascii: Unicode.Scalar) -> Bool { index < bytes.count && bytes[index] == UInt8(ascii: ascii) }
        guard at(4, "-"), at(7, "-"), let year = number(0, 4), let month = number(5, 2), let day = number(8, 2) else { return true }
        guard (1...12).contains(month), (1...days(inMonth: month, of: year)).contains(day) else { return false }
        if at(10, "T") || at(10, "t") || at(10, " "), at(13, ":") {
            guard let hour = number(11, 2), let minute = number(14, 2), hour < 24, minute < 60 else { return false }
            if at(16, ":") {
                guard let second = number(17, 2), second < 61 else { return false }
            }
        }
        return true
    }

    /// The days of `month` (1–12) in `year`, by the Gregorian calendar.
    static func days(inMonth month: Int, of year: Int) -> Int {
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    }

    /// The shape every service writes, `2026-11-27T02:42:56(.123…)?(Z|±hh:mm)`, read byte by byte; nil for
    /// anything else (which the general ISO 8601 parser then tries).
    static func parseCommon(_ text: String) -> Date? {
        var text = text
        return text.withUTF8 { bytes -> Date? in
            func number(_ from: Int, _ count: Int) -> Int? {
                guard from + count <= bytes.count else { return nil }
                var value = 0
                for index in from..<from + count {
                    let byte = bytes[index]
                    guard byte >= 48, byte <= 57 else { return nil }
                    value = value * 10 + Int(byte - 48)
                }
                return value
            }
            func at(_ index: Int, _ ascii: Unicode.Scalar) -> Bool { index < bytes.count && bytes[index] == UInt8(ascii: ascii) }
            guard bytes.count >= 20, at(4, "-"), at(7, "-"), at(10, "T"), at(13, ":"), at(16, ":"),
                let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
                let minute = number(14, 2), let second = number(17, 2),
                (1...12).contains(month), (1...days(inMonth: month, of: year)).contains(day), hour < 24, minute < 60,
                second < 61
            else { return nil }
            var index = 19
            var fraction = 0.0
            if at(index, ".") {
                index += 1
                // Up to nine digits as one integer over its power of ten: 0.123 is read as 123 / 1000, exactly
                // the double nearest 0.123, as Foundation's parser reads it.
                var numerator = 0
                var denominator = 1
                let digitsStart = index
                while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                    if index - digitsStart < 9 {
                        numerator = numerator * 10 + Int(bytes[index] - 48)
                        denominator *= 10
                    }
                    index += 1
                }
                guard index > digitsStart else { return nil }
                fraction = Double(numerator) / Double(denominator)
            }
            var offset = 0
            if at(index, "Z") {
                index += 1
            } else if at(index, "+") || at(index, "-") {
                let sign = at(index, "-") ? -1 : 1
                guard at(index + 3, ":"), let hours = number(index + 1, 2), let minutes = number(index + 4, 2) else { return nil }
                offset = sign * (hours * 3600 + minutes * 60)
                index += 6
            } else {
                return nil
            }
            guard index == bytes.count else { return nil }
            var parts = tm()
            parts.tm_year = Int32(year - 1900)
            parts.tm_mon = Int32(month - 1)
            parts.tm_mday = Int32(day)
            parts.tm_hour = Int32(hour)
            parts.tm_min = Int32(minute)
            parts.tm_sec = Int32(second)
            let epoch = timegm(&parts)
            return Date(timeIntervalSince1970: Double(Int(epoch) - offset) + fraction)
        }
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
    case receiptRequested(DecisionReceiptRequested)
    case webhookDelivery(WebhookDelivery)
    case delegationSet(DelegationSet)
    case delegationCleared(DelegationCleared)
    case reassignRequested(ReassignRequested)

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
        case .receiptRequested(let event): return (event.eventId, event.requestId)
        case .webhookDelivery(let event): return (event.eventId, event.requestId)
        case .delegationSet(let event): return (event.eventId, event.requestId)
        case .delegationCleared(let event): return (event.eventId, event.requestId)
        case .reassignRequested(let event): return (event.eventId, event.requestId)
        }
    }

    /// The topic this event travels on.
    public var topic: Topic {
        switch self {
        case .approvalRequested: ApprovalRequested.topic
        case .decisionSubmitted: DecisionSubmitted.topic
        case .callbackCommand: CallbackCommand.topic
        case .cancelRequested: CancelRequested.topic
        case .notificationDelivery: NotificationDelivery.topic
        case .resendRequested: ResendRequested.topic
        case .receiptRequested: DecisionReceiptRequested.topic
        case .webhookDelivery: WebhookDelivery.topic
        case .delegationSet: DelegationSet.topic
        case .delegationCleared: DelegationCleared.topic
        case .reassignRequested: ReassignRequested.topic
        }
    }

    /// Reads an event consumed from `topic`. On one of Greenlight's topics, an event of a type that belongs on another
    /// is refused: the internal topic carries no decisions, the requests topic nothing but requests, and so on. One
    /// exception, for this release only: the internal commands that earlier releases published on the decisions topic
    /// (a cancellation, a resend, a delivery report still in an outbox or from a service not upgraded yet) are read
    /// there too, so that an upgrade loses none of them; the next release refuses them.
    public static func decode(_ data: [UInt8], topic: String) throws -> InboundEvent {
        let event = try decodeAnyTopic(data, topic: topic)
        if let known = Topic(rawValue: topic), known != event.topic,
            !(known == .decisions && event.topic == .internalCommands)
        {
            throw EventDecodingError(
                topic: topic, reason: "\(event.typeName) belongs on \(event.topic.rawValue), not on this topic")
        }
        return event
    }

    var typeName: String {
        switch self {
        case .approvalRequested: ApprovalRequested.eventType
        case .decisionSubmitted: DecisionSubmitted.eventType
        case .callbackCommand: CallbackCommand.eventType
        case .cancelRequested: CancelRequested.eventType
        case .notificationDelivery: NotificationDelivery.eventType
        case .resendRequested: ResendRequested.eventType
        case .receiptRequested: DecisionReceiptRequested.eventType
        case .webhookDelivery: WebhookDelivery.eventType
        case .delegationSet: DelegationSet.eventType
        case .delegationCleared: DelegationCleared.eventType
        case .reassignRequested: ReassignRequested.eventType
        }
    }

    private static func decodeAnyTopic(_ data: [UInt8], topic: String) throws -> InboundEvent {
        let bytes = Data(data)
        /// The decoder's probe: for what `EventProbe` does not read, and for the error of a message that does not decode.
        func decodedProbe() throws -> TypeProbe {
            do {
                return try GreenlightJSON.decode(TypeProbe.self, from: bytes)
            } catch {
                throw EventDecodingError(topic: topic, reason: "not a JSON object with a string field \"type\"")
            }
        }
        let probe = try EventProbe.typeAndVersion(data).map { TypeProbe(type: $0.type, version: $0.version) } ?? decodedProbe()
        if let version = probe.version, version != 1 {
            _ = try decodedProbe()
            throw EventDecodingError(topic: topic, reason: "\(probe.type) schema version \(version) is not supported")
        }
        do {
            switch probe.type {
            case ApprovalRequested.eventType:
                return .approvalRequested(try GreenlightJSON.decode(ApprovalRequested.self, from: bytes))
            case DecisionSubmitted.eventType:
                return .decisionSubmitted(try GreenlightJSON.decode(DecisionSubmitted.self, from: bytes))
            case CallbackCommand.eventType:
                return .callbackCommand(try GreenlightJSON.decode(CallbackCommand.self, from: bytes))
            case CancelRequested.eventType:
                return .cancelRequested(try GreenlightJSON.decode(CancelRequested.self, from: bytes))
            case NotificationDelivery.eventType:
                return .notificationDelivery(try GreenlightJSON.decode(NotificationDelivery.self, from: bytes))
            case ResendRequested.eventType:
                return .resendRequested(try GreenlightJSON.decode(ResendRequested.self, from: bytes))
            case DecisionReceiptRequested.eventType:
                return .receiptRequested(try GreenlightJSON.decode(DecisionReceiptRequested.self, from: bytes))
            case WebhookDelivery.eventType:
                return .webhookDelivery(try GreenlightJSON.decode(WebhookDelivery.self, from: bytes))
            case DelegationSet.eventType:
                return .delegationSet(try GreenlightJSON.decode(DelegationSet.self, from: bytes))
            case DelegationCleared.eventType:
                return .delegationCleared(try GreenlightJSON.decode(DelegationCleared.self, from: bytes))
            case ReassignRequested.eventType:
                return .reassignRequested(try GreenlightJSON.decode(ReassignRequested.self, from: bytes))
            default:
                _ = try decodedProbe()
                throw EventDecodingError(topic: topic, reason: "unknown event type \"\(probe.type)\"")
            }
        } catch let error as DecodingError {
            // Text that is not JSON at all is said to be so, as the decoder's probe says it.
            _ = try decodedProbe()
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
