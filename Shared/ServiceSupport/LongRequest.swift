import Hummingbird
import ServiceLifecycle

extension Request {
    /// Runs `operation`, a long wait on this request's behalf (a long-poll), and calls `stop` — which must make it
    /// return soon — when the client closes its connection or the server begins to shut down, so that neither leaves
    /// a waiter behind. The request's body is consumed (a long-poll is a GET).
    public func whileClientWaits<Value: Sendable>(
        _ operation: () async throws -> Value, stop: @escaping @Sendable () -> Void
    ) async throws -> Value {
        try await withGracefulShutdownHandler {
            try await body.consumeWithInboundCloseHandler({ _ in try await operation() }, onInboundClosed: stop)
        } onGracefulShutdown: {
            stop()
        }
    }
}
