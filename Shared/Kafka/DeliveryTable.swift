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
        var waiters: [UInt: Entry] = [:]
        var closed = false
    }

    private let state = Mutex(State())

    /// One caller of `send`, or one message of a `send(batch:)`.
    enum Entry: Sendable {
        case single(Waiter)
        case batch(BatchCollector, index: Int)

        func resume(with result: Result<DeliveryOutcome, KafkaError>) {
            switch self {
            case .single(let waiter):
                waiter.resume(with: result.mapError { $0 as any Error })
            case .batch(let collector, let index):
                collector.complete(index, with: result)
            }
        }

        /// Ends the wait with `error` (cancellation, say), which a batch's caller sees as a failed delivery.
        func fail(_ error: any Error) {
            switch self {
            case .single(let waiter):
                waiter.resume(throwing: error)
            case .batch(let collector, let index):
                collector.complete(index, with: .failure(error as? KafkaError ?? KafkaError(.closed, "\(error)")))
            }
        }
    }

    /// Registers a waiter; nil when the producer is already shut down.
    func register(_ entry: Entry) -> UInt? {
        state.withLock { state in
            guard !state.closed else { return nil }
            let id = state.nextId
            state.nextId &+= 1
            state.waiters[id] = entry
            return id
        }
    }

    func take(_ id: UInt) -> Entry? {
        state.withLock { $0.waiters.removeValue(forKey: id) }
    }

    var count: Int { state.withLock { $0.waiters.count } }

    /// Stops new registrations and returns every waiter still pending.
    func close() -> [Entry] {
        state.withLock { state in
            state.closed = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
    }
}

/// Gathers the delivery reports of one batch and resumes its caller when the last one is in.
final class BatchCollector: Sendable {
    private struct State {
        var results: [Result<KafkaDeliveryReport, KafkaError>?]
        var remaining: Int
        var continuation: CheckedContinuation<[Result<KafkaDeliveryReport, KafkaError>], Never>?
    }

    private let state: Mutex<State>

    init(count: Int, continuation: CheckedContinuation<[Result<KafkaDeliveryReport, KafkaError>], Never>) {
        state = Mutex(State(results: Array(repeating: nil, count: count), remaining: count, continuation: continuation))
    }

    func complete(_ index: Int, with result: Result<DeliveryOutcome, KafkaError>) {
        let finished = state.withLock { state -> ([Result<KafkaDeliveryReport, KafkaError>], CheckedContinuation<[Result<KafkaDeliveryReport, KafkaError>], Never>)? in
            guard state.results[index] == nil else { return nil }
            switch result {
            case .success(.delivered(let report)): state.results[index] = .success(report)
            case .success(.queueFull): state.results[index] = .failure(KafkaError(.deliveryFailed, "the local queue is full"))
            case .failure(let error): state.results[index] = .failure(error)
            }
            state.remaining -= 1
            guard state.remaining == 0, let continuation = state.continuation else { return nil }
            state.continuation = nil
            return (state.results.map { $0! }, continuation)
        }
        if let (results, continuation) = finished { continuation.resume(returning: results) }
    }
}

/// A client's fatal error: set once (from librdkafka's error callback), then read by every caller, and awaited by
/// the service that must stop when it happens.
final class FatalErrorLatch: Sendable {
    private struct State {
        var error: KafkaError?
        var nextWaiter = 0
        var waiters: [Int: CheckedContinuation<KafkaError?, Never>] = [:]
    }

    private let state = Mutex(State())

    var error: KafkaError? { state.withLock { $0.error } }

    func set(_ error: KafkaError) {
        let waiters = state.withLock { state -> [CheckedContinuation<KafkaError?, Never>] in
            guard state.error == nil else { return [] }
            state.error = error
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: error) }
    }

    /// Returns the error once it is set; nil when the waiting task is cancelled first.
    func wait() async -> KafkaError? {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> KafkaError?? in
                    if let error = state.error { return .some(error) }
                    if Task.isCancelled { return .some(nil) }
                    state.waiters[id] = continuation
                    return .none
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: nil)
        }
    }
}
