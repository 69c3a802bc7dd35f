import Dispatch

extension DispatchQueue {
    /// Runs a blocking librdkafka call on this queue (never on Swift's cooperative pool) and awaits its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            self.async { continuation.resume(with: Result { try body() }) }
        }
    }
}

extension Duration {
    /// The duration in whole milliseconds, as librdkafka's timeout arguments take it.
    var milliseconds: Int32 {
        Int32(clamping: components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000)
    }
}
