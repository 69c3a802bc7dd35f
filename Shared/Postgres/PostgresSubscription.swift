import Synchronization

/// What ended a wait on a `PostgresSubscription`. Whatever it is, the waiter reads what it waits for again: a
/// notification says something changed, a reconnection that notifications may have been missed meanwhile.
public enum PostgresWake: Sendable, Equatable {
    /// A notification with the subscription's payload arrived.
    case notified
    /// The listener (re)connected and listens again; notifications sent while it could not were lost.
    case reconnected
    /// The wait's time ran out.
    case timedOut
    /// There is no more waiting: the listener stopped, the subscription was closed, or the waiting task was cancelled.
    case closed
}

/// One waiter's interest in a payload on a `PostgresListener`'s channels, from `withSubscription` (which ends it).
/// A wake that arrives while nobody waits is kept for the next `next(timeout:)`, so that nothing delivered between
/// subscribing and waiting is lost.
public final class PostgresSubscription: Sendable {
    public let payload: String
    let id: UInt64

    private enum State {
        case idle(pending: PostgresWake?)
        case waiting(CheckedContinuation<PostgresWake, Never>)
        case closed
    }

    private let state = Mutex<State>(.idle(pending: nil))

    init(payload: String, id: UInt64) {
        self.payload = payload
        self.id = id
    }

    /// Waits for the next wake, at most `timeout`. A cancelled task gets `.closed` at once.
    public func next(timeout: Duration) async -> PostgresWake {
        await withTaskGroup(of: PostgresWake.self) { group in
            group.addTask { await self.nextWake() }
            group.addTask {
                do {
                    try await Task.sleep(for: timeout)
                    return .timedOut
                } catch {
                    return .closed
                }
            }
            let first = await group.next() ?? .closed
            group.cancelAll()
            return first
        }
    }

    /// Ends the subscription: a waiter wakes with `.closed`, and so does every later `next(timeout:)`.
    public func close() { deliver(.closed) }

    func deliver(_ wake: PostgresWake) {
        let waiter = state.withLock { state -> CheckedContinuation<PostgresWake, Never>? in
            switch state {
            case .waiting(let continuation):
                state = wake == .closed ? .closed : .idle(pending: nil)
                return continuation
            case .idle(let pending):
                // A close is final; otherwise any wake means the same (read again), so the first one is kept.
                state = wake == .closed ? .closed : .idle(pending: pending ?? wake)
                return nil
            case .closed:
                return nil
            }
        }
        waiter?.resume(returning: wake)
    }

    private func nextWake() async -> PostgresWake {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> PostgresWake? in
                    switch state {
                    case .closed: return .closed
                    case .idle(pending: .some(let wake)):
                        state = .idle(pending: nil)
                        return wake
                    case .waiting:
                        preconditionFailure("a subscription has one waiter at a time")
                    case .idle(pending: .none):
                        // Checked under the lock the cancellation handler takes: a cancel that came first is seen
                        // here, one that comes later finds the continuation.
                        if Task.isCancelled { return .closed }
                        state = .waiting(continuation)
                        return nil
                    }
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<PostgresWake, Never>? in
                guard case .waiting(let continuation) = state else { return nil }
                state = .idle(pending: nil)
                return continuation
            }
            waiter?.resume(returning: .closed)
        }
    }
}
