import DurableExecution
import Foundation
import GreenlightModels

/// How public events are carried: `GREENLIGHT_EVENT_FORMAT` (`json`, the default, or `cloudevents`) and, for
/// CloudEvents, `GREENLIGHT_EVENT_SOURCE` (their `source`, `/greenlight` by default). The orchestrator reads them for
/// its Kafka events; the notifier for webhooks.
public struct EventFormatSettings: Sendable {
    public var format: EventFormat
    public var source: String

    public init(format: EventFormat = .json, source: String = CloudEvent.defaultSource) {
        self.format = format
        self.source = source
    }

    public static func read(_ reader: inout EnvironmentReader) -> EventFormatSettings {
        let formatText = reader.string("GREENLIGHT_EVENT_FORMAT", default: EventFormat.json.rawValue)
        let format = EventFormat(rawValue: formatText.lowercased())
        if format == nil {
            reader.report("GREENLIGHT_EVENT_FORMAT must be json or cloudevents, not \"\(formatText)\"")
        }
        let source = reader.string("GREENLIGHT_EVENT_SOURCE", default: CloudEvent.defaultSource)
        // A URI-reference (CloudEvents' `source`): a path such as /greenlight, or an absolute URI.
        if source.contains(where: { $0.isWhitespace }) || URL(string: source) == nil {
            reader.report("GREENLIGHT_EVENT_SOURCE must be a URI reference such as /greenlight or https://example.com/greenlight, not \"\(source)\"")
        }
        return EventFormatSettings(format: format ?? .json, source: source)
    }

    /// The headers of a message carrying `event`: CloudEvents' binary-mode ones when the format is `cloudevents` and
    /// the event is one (an outcome or a lifecycle event); none otherwise.
    public func headers(for event: any Encodable) -> [String: String] {
        guard format == .cloudevents, let event = event as? any CloudEventPayload else { return [:] }
        return CloudEvent(event, source: source).binaryHeaders
    }

    /// `headers(for:)` for the durable engine (nil for plain JSON: nothing to add).
    public var messageHeaders: MessageHeaders? {
        guard format == .cloudevents else { return nil }
        return { [self] _, event in headers(for: event) }
    }
}
