import Foundation
import Synchronization

/// A thread of its own that calls a blocking librdkafka function in a loop until stopped, so that the blocking
/// never happens on Swift's cooperative pool.
final class PollThread: Sendable {
    private let running = Atomic<Bool>(true)
    private let done = Mutex<(finished: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    init(name: String, body: @escaping @Sendable () -> Void, finally: @escaping @Sendable () -> Void = {}) {
        let thread = Thread { [self] in
            while running.load(ordering: .acquiring) { body() }
            finally()
            let waiters = done.withLock { state in
                state.finished = true
                defer { state.waiters.removeAll() }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
        thread.name = name
        thread.start()
    }

    var isRunning: Bool { running.load(ordering: .acquiring) }

    /// Asks the loop to stop and waits until its current call and `finally` have returned.
    func stop() async {
        running.store(false, ordering: .releasing)
        await withCheckedContinuation { continuation in
            let finished = done.withLock { state in
                if !state.finished { state.waiters.append(continuation) }
                return state.finished
            }
            if finished { continuation.resume() }
        }
    }
}
