import Foundation
import GreenlightTestSupport
import Testing

/// What the tests' child processes inherit: standard input, output and error, and nothing else of the test
/// process (a socket a child kept open would keep its port, which a mock broker must be able to listen on again).
struct ChildProcessTests {
    @Test func aChildInheritsNoDescriptorPastStandardError() async throws {
        // A descriptor deliberately left inheritable (no close-on-exec), as a C library's might be.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #expect(fd > 2)
        defer { close(fd) }
        let log = TestEnvironment.scratchPath("child-fds-\(UUID().uuidString.prefix(8)).log")
        defer { try? FileManager.default.removeItem(atPath: log) }
        let child = try await ChildProcess(name: "ls", executable: "/bin/ls", arguments: ["/proc/self/fd"], logPath: log)
        #expect(await child.waitForExit() == 0)
        let open = Set(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Int($0) })
        // Past 0, 1 and 2, only ls's own handle on the directory it lists: not the socket, nor anything else of
        // this process (which holds dozens: the build's, the test runner's).
        #expect(open.contains(0) && open.contains(1) && open.contains(2), "\(open)")
        #expect(open.filter { $0 > 2 }.count <= 1, "inherited: \(open.sorted())")
    }
}
