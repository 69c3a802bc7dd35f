import DurableExecution
import Testing

struct WakeUpSignalTests {
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
