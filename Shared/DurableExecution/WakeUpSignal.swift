import Synchronization

/// Wakes polling loops early: `signal()` from any task wakes every loop waiting in `wait(timeout:)` (or, when none
/// waits, the next one to call it), and `signal(waking:)` wakes only as many as there are pieces of work; `wait`
/// otherwise returns at the timeout. Signals do not accumulate beyond one: loops that take one piece at a time must
/// look again for more before they wait (the notifier's senders do). Any number of loops may wait at once.
public final class WakeUpSignal: Sendable {
    private struct State {
        var pending = false
        var nextId: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// How many loops are waiting right now.
    public var waiting: Int { state.withLock { $0.waiters.count } }

    public func signal() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.waiters.isEmpty else {
                state.pending = true
                return []
            }
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Wakes `count` of the waiting loops, those that waited longest first: for work that comes in pieces each loop
    /// takes one of (a sender claims one message), so that one new piece does not send every idle loop looking for
    /// it. When fewer than `count` wait, all of them are woken and the signal is kept for the next loop to wait (one
    /// still busy, or about to wait after finding nothing, then looks for the pieces left).
    public func signal(waking count: Int) {
        guard count > 0 else { return }
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard state.waiters.count > count else {
                if state.waiters.count < count { state.pending = true }
                defer { state.waiters = [:] }
                return Array(state.waiters.values)
            }
            return state.waiters.keys.sorted().prefix(count).compactMap { state.waiters.removeValue(forKey: $0) }
        }
        for waiter in waiters { waiter.resume() }
    }

    public func wait(timeout: Duration) async {
        let id = state.withLock { state -> UInt64 in
            state.nextId += 1
            return state.nextId
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        let ready = self.state.withLock { state -> Bool in
                            if state.pending {
                                state.pending = false
                                return true
                            }
                            if Task.isCancelled { return true }
                            state.waiters[id] = continuation
                            return false
                        }
                        if ready { continuation.resume() }
                    }
                } onCancel: {
                    self.state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
                }
            }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }
}
