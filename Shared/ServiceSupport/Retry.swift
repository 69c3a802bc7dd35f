import GreenlightModels
import Logging

extension Backoff {
    /// Runs `body` until it succeeds, waiting as the schedule says between attempts (for work that must eventually
    /// succeed: a consumer may not skip a message because Postgres is restarting). Stops when the task is cancelled
    /// or `giveUp` says the error is final; the last error is then thrown.
    @discardableResult
    public func retrying<T>(
        _ what: String, logger: Logger, metadata: Logger.Metadata = [:],
        giveUp: (any Error, _ attempt: Int) -> Bool = { _, _ in false }, _ body: () async throws -> T
    ) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await body()
            } catch {
                if Task.isCancelled || giveUp(error, attempt) { throw error }
                let delay = delay(afterAttempt: attempt)
                var details = metadata
                details["attempt"] = "\(attempt)"
                details["error"] = "\(error)"
                logger.warning("\(what) failed; retrying in \(delay)", metadata: details)
                try await Task.sleep(for: delay)
                attempt += 1
            }
        }
    }
}
