import DurableExecution
import GreenlightTestSupport
import Synchronization
import Testing

struct WakeUpSignalTests {
    /// How long a wait for the waiters may take: a loaded 2-core machine can starve this test for seconds.
    static let patience = Duration.seconds(60)

    @Test func oneSignalWakesEveryWaiterAndALateWaiterSeesIt() async throws {
        let signal = WakeUpSignal()
        let start = ContinuousClock.now
        // Woken, not timed out: well under the 120 s timeout (the margin is for a 2-core machine starting dozens of
        // test processes at once, which can leave this one without CPU for seconds).
        async let first: Void = signal.wait(timeout: .seconds(120))
        async let second: Void = signal.wait(timeout: .seconds(120))
        while signal.waiting < 2 { try await Task.sleep(for: .milliseconds(10)) }
        signal.signal()
        _ = await (first, second)
        #expect(ContinuousClock.now - start < .seconds(60))
        // With nobody waiting, the signal is kept for the next wait.
        signal.signal()
        let later = ContinuousClock.now
        await signal.wait(timeout: .seconds(120))
        #expect(ContinuousClock.now - later < .seconds(60))
    }

    @Test func aCountedSignalWakesThatManyWaitersAndKeepsItOnlyWhenFewerWait() async throws {
        let signal = WakeUpSignal()
        let woken = Woken()
        let waiters = (0..<4).map { _ in
            Task {
                await signal.wait(timeout: .seconds(120))
                woken.count.add(1, ordering: .sequentiallyConsistent)
            }
        }
        try await waitUntil(timeout: Self.patience, interval: .milliseconds(10)) { signal.waiting == 4 }
        // One piece of work: one loop goes, three go on waiting.
        signal.signal(waking: 1)
        #expect(signal.waiting == 3)
        try await waitUntil(timeout: Self.patience, interval: .milliseconds(10)) { woken.count.load(ordering: .sequentiallyConsistent) == 1 }
        try await Task.sleep(for: .milliseconds(200))
        #expect(woken.count.load(ordering: .sequentiallyConsistent) == 1)
        // As many pieces as loops waiting: all go, and nothing is kept (the next wait runs to its timeout).
        let all = ContinuousClock.now
        signal.signal(waking: 3)
        for waiter in waiters { await waiter.value }
        #expect(ContinuousClock.now - all < .seconds(60))
        #expect(woken.count.load(ordering: .sequentiallyConsistent) == 4)
        let quiet = ContinuousClock.now
        await signal.wait(timeout: .milliseconds(300))
        #expect(ContinuousClock.now - quiet >= .milliseconds(300))
        // More pieces than loops waiting: the one waiting goes, and the signal is kept for the next loop to wait.
        let last = Task { await signal.wait(timeout: .seconds(120)) }
        try await waitUntil(timeout: Self.patience, interval: .milliseconds(10)) { signal.waiting == 1 }
        let kept = ContinuousClock.now
        signal.signal(waking: 2)
        await last.value
        await signal.wait(timeout: .seconds(120))
        #expect(ContinuousClock.now - kept < .seconds(60))
    }

    private final class Woken: Sendable {
        let count = Atomic(0)
    }

    @Test func aCancelledWaitReturns() async {
        let signal = WakeUpSignal()
        let waiting = Task { await signal.wait(timeout: .seconds(120)) }
        try? await Task.sleep(for: .milliseconds(100))
        let start = ContinuousClock.now
        waiting.cancel()
        await waiting.value
        #expect(ContinuousClock.now - start < .seconds(60))
    }
}
