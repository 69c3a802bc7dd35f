import Foundation
import Kafka
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with posix_spawn, its output going to a log file. (Foundation's `Process` can miss
/// a child's exit when waited on from a concurrency thread, so tests use this instead.) Every program the tests start
/// goes through this: it starts them inside `KafkaMockCluster.startingChildProcess`.
public final class ChildProcess: Sendable {
    public let pid: pid_t
    public let name: String
    public let logPath: String
    private let exitStatus = Mutex<Int32?>(nil)
    private let waitQueue = DispatchQueue(label: "greenlight.test.child-wait")

    /// Starts `executable` with `arguments` and `environment` (added to this process's own). Its standard input is
    /// `standardInput` (a descriptor of this process, such as a pipe's read end) or /dev/null; its standard output
    /// `standardOutput` or the log, which always gets its standard error. posix_spawn blocks until the child has
    /// exec'd, so it runs on a queue of its own, not on Swift's cooperative pool.
    public init(
        name: String, executable: String, arguments: [String] = [], environment: [String: String] = [:],
        logPath: String, standardInput: Int32? = nil, standardOutput: Int32? = nil
    ) async throws {
        self.name = name
        self.logPath = logPath
        // Until the closefrom in `spawn` runs, the child holds a copy of every descriptor of ours: it is started only
        // while no mock broker is moving its port from one socket to another.
        pid = try await KafkaMockCluster.startingChildProcess {
            try Self.spawn(
                executable: executable, arguments: arguments, environment: environment, logPath: logPath,
                standardInput: standardInput, standardOutput: standardOutput)
        }
    }

    private static func spawn(
        executable: String, arguments: [String], environment: [String: String], logPath: String,
        standardInput: Int32?, standardOutput: Int32?
    ) throws -> pid_t {
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        if let standardInput {
            posix_spawn_file_actions_adddup2(&fileActions, standardInput, 0)
        } else {
            posix_spawn_file_actions_addopen(&fileActions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_addopen(&fileActions, 2, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&fileActions, standardOutput ?? 2, 1)
        // Nothing else of ours: a listening socket the child inherited (a mock broker's, a test server's) would stay
        // open in it after we close it, and the port could not be listened on again.
        // (glibc has had posix_spawn_file_actions_addclosefrom_np since 2.34; Swift's Glibc module does not declare it.)
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else {
            throw ChildProcessError(description: "this C library lacks posix_spawn_file_actions_addclosefrom_np (glibc 2.34+)")
        }
        _ = unsafeBitCast(symbol, to: CloseFrom.self)(&fileActions, 3)

        var merged = ProcessInfo.processInfo.environment
        merged["TMPDIR"] = TestEnvironment.scratchDirectory
        merged.merge(environment) { _, new in new }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &fileActions, nil, argv, envp)
        guard result == 0 else {
            throw ChildProcessError(description: "cannot start \(executable): \(String(cString: strerror(result)))")
        }
        return pid
    }

    /// Runs a shell command to completion and returns its exit status.
    public static func shell(_ command: String, logPath: String = "/dev/null") async throws -> Int32 {
        let child = try await ChildProcess(
            name: "sh", executable: "/bin/sh", arguments: ["-c", command], logPath: logPath)
        return await child.waitForExit()
    }

    public func signal(_ signal: Int32) {
        if exitStatus.withLock({ $0 }) == nil { kill(pid, signal) }
    }

    /// Waits (on a thread of its own) until the process exits; returns its exit status, or 128+signal.
    public func waitForExit() async -> Int32 {
        if let status = exitStatus.withLock({ $0 }) { return status }
        let pid = self.pid
        let status: Int32 = await withCheckedContinuation { continuation in
            waitQueue.async {
                var raw: Int32 = 0
                while waitpid(pid, &raw, 0) == -1 && errno == EINTR {}
                let exited = raw & 0x7f == 0
                continuation.resume(returning: exited ? (raw >> 8) & 0xff : 128 + (raw & 0x7f))
            }
        }
        exitStatus.withLock { $0 = status }
        return status
    }

    public var hasExited: Bool {
        if exitStatus.withLock({ $0 }) != nil { return true }
        var raw: Int32 = 0
        let result = waitpid(pid, &raw, WNOHANG)
        if result == pid {
            let exited = raw & 0x7f == 0
            exitStatus.withLock { $0 = exited ? (raw >> 8) & 0xff : 128 + (raw & 0x7f) }
            return true
        }
        return false
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    public func stop(grace: Duration = .seconds(10)) async -> Int32 {
        signal(SIGTERM)
        let waiting = Task { await waitForExit() }
        let killer = Task {
            try await Task.sleep(for: grace)
            self.signal(SIGKILL)
        }
        let status = await waiting.value
        killer.cancel()
        return status
    }

    /// The last `lines` lines of the process's output, for failure messages.
    public func logTail(_ lines: Int = 40) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}

public struct ChildProcessError: Error, CustomStringConvertible {
    public var description: String

    public init(description: String) {
        self.description = description
    }
}
