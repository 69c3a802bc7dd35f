import Foundation

/// An event that can travel as a CloudEvent: what kind of occurrence it reports, and when it happened.
public protocol CloudEventPayload: GreenlightEvent {
    /// The CloudEvents `type`, reverse-DNS: `io.greenlight.approval.completed`, say.
    var cloudEventType: String { get }
    /// The CloudEvents `time`: when what the event reports happened.
    var occurredAt: Date { get }
}

/// A Greenlight event as a CloudEvent (CloudEvents 1.0), in either of the standard's two modes:
/// - binary (`binaryHeaders`): the attributes travel as `ce_*` message headers (the Kafka protocol binding) and the
///   message's value stays the event's JSON, so consumers that ignore the headers read what they always read;
/// - structured (`structuredJSON()`): one JSON document, `{specversion, id, source, type, subject, time,
///   datacontenttype, data}`, with the event as `data` — for an HTTP body (webhooks), sent as
///   `structuredContentType`.
///
/// `id` is the event's `eventId`, `subject` its `requestId`: a consumer dedupes on the one and groups by the other.
public struct CloudEvent: Sendable {
    public static let specVersion = "1.0"
    /// `source` unless `GREENLIGHT_EVENT_SOURCE` says otherwise.
    public static let defaultSource = "/greenlight"
    /// The media type of the event's data (`datacontenttype`, and `content-type` in binary mode).
    public static let dataContentType = "application/json"
    /// The media type of a structured-mode CloudEvent.
    public static let structuredContentType = "application/cloudevents+json"

    public let id: String
    public let source: String
    public let type: String
    public let subject: String
    public let time: Date
    public let data: any CloudEventPayload

    public init(_ event: some CloudEventPayload, source: String = CloudEvent.defaultSource) {
        id = event.eventId.uuidString
        self.source = source
        type = event.cloudEventType
        subject = event.requestId
        time = event.occurredAt
        data = event
    }

    /// The message headers of binary mode: `ce_specversion`, `ce_id`, `ce_source`, `ce_type`, `ce_subject`, `ce_time`
    /// (RFC 3339, UTC) and `content-type`.
    public var binaryHeaders: [String: String] {
        [
            "ce_specversion": Self.specVersion, "ce_id": id, "ce_source": source, "ce_type": type, "ce_subject": subject,
            "ce_time": Timestamp.format(time), "content-type": Self.dataContentType,
        ]
    }

    /// The structured-mode document (JSON event format), the event's JSON as `data`.
    public func structuredJSON() throws -> Data {
        try GreenlightJSON.encode(Structured(event: self))
    }

    private struct Structured: Encodable {
        let event: CloudEvent

        enum CodingKeys: String, CodingKey {
            case specversion, id, source, type, subject, time, datacontenttype, data
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(CloudEvent.specVersion, forKey: .specversion)
            try container.encode(event.id, forKey: .id)
            try container.encode(event.source, forKey: .source)
            try container.encode(event.type, forKey: .type)
            try container.encode(event.subject, forKey: .subject)
            try container.encode(event.time, forKey: .time)
            try container.encode(CloudEvent.dataContentType, forKey: .datacontenttype)
            try container.encode(event.data, forKey: .data)
        }
    }
}

extension ApprovalCompleted: CloudEventPayload {
    public var cloudEventType: String { "io.greenlight.approval.completed" }
    public var occurredAt: Date { completedAt }
}

extension ApprovalLifecycle: CloudEventPayload {
    /// One type per stage (`io.greenlight.approval.lifecycle.decided`, …), so that a subscriber can filter on it.
    public var cloudEventType: String { "io.greenlight.approval.lifecycle.\(stage.rawValue)" }
    public var occurredAt: Date { at }
}
