import Foundation
import GreenlightModels
import Logging

/// One JSON object per line: `timestamp`, `level`, `service`, `message`, `source` and every metadata key
/// (`requestId`, `executionId`, `eventId`, …) at the top level, so log tools can filter on them.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level
    let service: String
    let write: @Sendable (String) -> Void

    public init(service: String, level: Logger.Level, write: @escaping @Sendable (String) -> Void = JSONLogHandler.standardError) {
        self.service = service
        logLevel = level
        self.write = write
    }

    public static let standardError: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String: JSONValue] = [:]
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        for (key, value) in merged { fields[key] = Self.json(value) }
        fields["timestamp"] = .string(Timestamp.format(Date()))
        fields["level"] = .string(event.level.rawValue)
        fields["service"] = .string(service)
        fields["message"] = .string(event.message.description)
        fields["source"] = .string(event.source)
        if let error = event.error { fields["error"] = .string("\(error)") }
        guard let data = try? GreenlightJSON.encode(fields) else { return }
        write(String(decoding: data, as: UTF8.self))
    }

    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let text): return .string(text)
        case .stringConvertible(let value): return .string(value.description)
        case .array(let values): return .array(values.map(json))
        case .dictionary(let values): return .object(values.mapValues(json))
        }
    }
}
