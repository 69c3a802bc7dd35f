import Logging
import Synchronization

/// A `LogHandler` that keeps every line it is given, for tests that observe progress through a component's log
/// (its retries, say) instead of sleeping.
public struct CapturingLogHandler: LogHandler {
    /// One logged line.
    public struct Line: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]
    }

    /// The lines of every handler made from one store.
    public final class Store: Sendable {
        private let lines = Mutex<[Line]>([])

        public init() {}

        public var all: [Line] { lines.withLock { $0 } }

        func append(_ line: Line) { lines.withLock { $0.append(line) } }

        /// A logger whose lines go to this store.
        public func logger(_ label: String, level: Logger.Level = .debug) -> Logger {
            var logger = Logger(label: label) { _ in CapturingLogHandler(store: self) }
            logger.logLevel = level
            return logger
        }
    }

    let store: Store
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .debug

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        store.append(Line(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
    }
}
