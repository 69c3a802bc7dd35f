import Dispatch

extension DispatchQueue {
    /// Runs a blocking librdkafka call on this queue (never on Swift's cooperative pool) and awaits its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            self.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
