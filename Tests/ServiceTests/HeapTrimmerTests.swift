import GreenlightTestSupport
import ServiceSupport
import Testing

/// What a burst freed goes back to the system: glibc keeps freed memory inside its arenas, and only the trimmer's
/// `malloc_trim` returns the free pages that lie between blocks still in use.
@Suite(.timeLimit(.minutes(1)))
struct HeapTrimmerTests {
    @Test func memoryFreedAfterABurstIsGivenBack() async throws {
        // About 400 MB in blocks of 1,000 bytes, written to so that they are resident; one in twenty is kept, so the
        // free memory lies between blocks in use and the allocator cannot shrink its heap from the top.
        var blocks: [UnsafeMutableRawPointer] = []
        blocks.reserveCapacity(400_000)
        for _ in 0..<400_000 {
            let block = UnsafeMutableRawPointer.allocate(byteCount: 1000, alignment: 8)
            block.initializeMemory(as: UInt8.self, repeating: 1, count: 1000)
            blocks.append(block)
        }
        var kept: [UnsafeMutableRawPointer] = []
        for (index, block) in blocks.enumerated() {
            if index % 20 == 0 { kept.append(block) } else { block.deallocate() }
        }
        blocks = []
        let freed = try #require(residentKilobytes())

        let trimmer = HeapTrimmer(interval: .milliseconds(100), logger: TestEnvironment.logger("heap"))
        let running = Task { try await trimmer.run() }
        // Other tests in this process allocate meanwhile; 200 MB of the 380 MB freed is well clear of them.
        let givenBack = try await eventually(timeout: .seconds(10), interval: .milliseconds(50)) {
            freed - (residentKilobytes() ?? freed) > 200_000
        }
        #expect(givenBack)
        running.cancel()
        _ = try? await running.value
        for block in kept { block.deallocate() }
    }
}
