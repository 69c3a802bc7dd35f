import Logging

/// Exponential back-off with a cap, for work that must eventually succeed (a consumer may not skip a message
/// because Postgres is restarting). Stops when the task is cancelled or `giveUp` says the error is final; the
/// last error is then thrown.
public struct Backoff: Sendable {
    public var initial: Duration
    public var maximum: Duration

    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(5)) {
        self.initial = initial
        self.maximum = maximum
    }

    @discardableResult
    public func retrying<T>(
        _ what: String, logger: Logger, metadata: Logger.Metadata = [:],
        giveUp: (any Error, _ attempt: Int) -> Bool = { _, _ in false }, _ body: () async throws -> T
    ) async throws -> T {
        var delay = initial
        var attempt = 1
        while true {
            do {
                return try await body()
            } catch {
                if Task.isCancelled || giveUp(error, attempt) { throw error }
                var details = metadata
                details["attempt"] = "\(attempt)"
                details["error"] = "\(error)"
                logger.warning("\(what) failed; retrying in \(delay)", metadata: details)
                try await Task.sleep(for: delay)
                delay = min(delay * 2, maximum)
                attempt += 1
            }
        }
    }
}
