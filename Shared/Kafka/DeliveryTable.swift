import Synchronization

/// What a waiting `send` learns.
enum DeliveryOutcome: Sendable {
    case delivered(KafkaDeliveryReport)
    /// librdkafka's local queue was full; the message was not enqueued.
    case queueFull
}

/// Callers waiting for delivery reports, keyed by the id passed to librdkafka as each message's opaque.
/// Delivery-report callbacks (on the producer's poll thread) complete them; shutdown fails what is left.
final class DeliveryTable: Sendable {
    typealias Waiter = CheckedContinuation<DeliveryOutcome, any Error>

    private struct State {
        var nextId: UInt = 1
        var waiters: [UInt: Waiter] = [:]
        var closed = false
    }

    private let state = Mutex(State())

    /// Registers a waiter; nil when the producer is already shut down.
    func register(_ waiter: Waiter) -> UInt? {
        state.withLock { state in
            guard !state.closed else { return nil }
            let id = state.nextId
            state.nextId &+= 1
            state.waiters[id] = waiter
            return id
        }
    }

    func take(_ id: UInt) -> Waiter? {
        state.withLock { $0.waiters.removeValue(forKey: id) }
    }

    var count: Int { state.withLock { $0.waiters.count } }

    /// Stops new registrations and returns every waiter still pending.
    func close() -> [Waiter] {
        state.withLock { state in
            state.closed = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
    }
}
