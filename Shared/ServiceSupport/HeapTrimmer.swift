import Dispatch
import Foundation
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import CMalloc
#endif

/// Gives back to the system, every `interval`, the memory the C allocator holds free. glibc keeps what a burst
/// freed inside its arenas (one per thread that allocated, up to eight per core), and returns pages to the kernel on
/// its own only from the top of the main arena: after a backlog is worked off (the Kafka client's read-ahead, the
/// messages and rows of thousands of requests), a service would otherwise keep its peak resident size for good.
/// `malloc_trim` releases every whole free page in every arena. It walks the arenas' free lists under their locks, so
/// it runs on a thread of its own, never on Swift's cooperative pool; it takes a few milliseconds. Elsewhere than
/// glibc it does nothing.
public struct HeapTrimmer: Service {
    let interval: Duration
    let logger: Logger

    public init(interval: Duration = .seconds(5), logger: Logger) {
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        try await cancelWhenShuttingDown {
            while true {
                try await Task.sleep(for: interval)
                let before = residentKilobytes()
                let started = ContinuousClock.now
                await Self.trim()
                if let before, let after = residentKilobytes(), before - after >= 1024 {
                    logger.debug(
                        "Freed heap given back to the system",
                        metadata: [
                            "releasedKB": "\(before - after)", "residentKB": "\(after)",
                            "took": "\(ContinuousClock.now - started)",
                        ])
                }
            }
        }
    }

    static let queue = DispatchQueue(label: "greenlight.heap-trimmer")

    /// Releases the free pages of every arena now; returns when done.
    public static func trim() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                #if canImport(Glibc)
                _ = malloc_trim(0)
                #endif
                continuation.resume()
            }
        }
    }
}

/// VmRSS of a process (this one by default), in kB, from /proc; nil when it cannot be read.
public func residentKilobytes(pid: Int32? = nil) -> Int? {
    let path = pid.map { "/proc/\($0)/status" } ?? "/proc/self/status"
    guard let status = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    }
    return nil
}
