import Foundation
import GreenlightTestSupport
import ServiceSupport
import Testing

/// What a burst freed goes back to the system: glibc keeps freed memory inside its arenas, and only the trimmer's
/// `malloc_trim` returns the free pages that lie between blocks still in use.
@Suite(.timeLimit(.minutes(1)))
struct HeapTrimmerTests {
    @Test func memoryFreedAfterABurstIsGivenBack() async throws {
        // About 400 MB in blocks of 1,000 bytes, written to so that they are resident, on a thread of its own (so in
        // an arena that the tests running beside this one do not allocate from). One block in fifty is kept: the
        // free memory lies between blocks in use, 49 KB at a time, and the allocator cannot shrink its heap from the
        // top. Of each gap, all but the pages it shares with its neighbours can go back: about 380 MB.
        let kept: [UInt] = await withCheckedContinuation { continuation in
            Thread {
                var kept: [UInt] = []
                var blocks: [UnsafeMutableRawPointer] = []
                blocks.reserveCapacity(400_000)
                for _ in 0..<400_000 {
                    let block = UnsafeMutableRawPointer.allocate(byteCount: 1000, alignment: 8)
                    block.initializeMemory(as: UInt8.self, repeating: 1, count: 1000)
                    blocks.append(block)
                }
                for (index, block) in blocks.enumerated() {
                    if index % 50 == 0 { kept.append(UInt(bitPattern: block)) } else { block.deallocate() }
                }
                continuation.resume(returning: kept)
            }.start()
        }
        let freed = try #require(residentKilobytes())

        let trimmer = HeapTrimmer(interval: .milliseconds(100), logger: TestEnvironment.logger("heap"))
        let running = Task { try await trimmer.run() }
        // Other tests in this process allocate meanwhile: 250 MB leaves them about 130 MB.
        let givenBack = try await eventually(timeout: .seconds(10), interval: .milliseconds(50)) {
            freed - (residentKilobytes() ?? freed) > 250_000
        }
        #expect(givenBack)
        running.cancel()
        _ = try? await running.value
        for address in kept { UnsafeMutableRawPointer(bitPattern: address)?.deallocate() }
    }
}
