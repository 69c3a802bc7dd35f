import Foundation

/// A process whose wall clock is wrong: Tests/clock/skewed_clock.c, built here and preloaded.
public enum SkewedClock {
    /// The environment that makes a process's `Date()` run `seconds` ahead (behind, when negative).
    public static func environment(seconds: Int) async throws -> [String: String] {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("clock/skewed_clock.c").path
        let library = TestEnvironment.scratchPath("skewed-clock-\(UUID().uuidString.prefix(8)).so")
        let log = library + ".log"
        guard try await ChildProcess.shell("cc -shared -fPIC -O2 -o \(library) \(source) -ldl", logPath: log) == 0 else {
            throw ChildProcessError(
                description: "cannot build \(source) (is a C compiler installed?): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
        return ["LD_PRELOAD": library, "GREENLIGHT_SKEWED_CLOCK_SECONDS": "\(seconds)"]
    }
}
