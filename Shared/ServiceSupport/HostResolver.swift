import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Resolves a host name to its numeric addresses with the system's resolver (what the HTTP client will connect to),
/// so that the addresses can be checked before a request goes out. `getaddrinfo` blocks and cannot be interrupted:
/// it runs on a dispatch queue of its own, never on Swift's cooperative pool, and a caller that is cancelled or
/// waits longer than `timeout` gets its answer at once while the lookup finishes in the background.
public enum HostResolver {
    static let queue = DispatchQueue(label: "greenlight.host-resolver", attributes: .concurrent)

    public struct Failure: Error, CustomStringConvertible {
        public var host: String
        public var reason: String
        public var description: String { "\(host) could not be resolved: \(reason)" }
    }

    public static func addresses(of host: String, timeout: Duration = .seconds(5)) async throws -> [String] {
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let answer = Answer()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                answer.wait(continuation)
                queue.async { answer.give(Result { try lookUp(name) }) }
                queue.asyncAfter(deadline: .now() + .milliseconds(Int(timeout.components.seconds * 1000))) {
                    answer.give(.failure(Failure(host: name, reason: "no answer within \(timeout)")))
                }
            }
        } onCancel: {
            answer.give(.failure(CancellationError()))
        }
    }

    /// The one answer a caller gets: the first of the lookup, the timeout and cancellation (which may come before
    /// the caller waits).
    final class Answer: Sendable {
        private struct State {
            var continuation: CheckedContinuation<[String], any Error>?
            var early: Result<[String], any Error>?
            var given = false
        }
        private let state = Mutex(State())

        func wait(_ continuation: CheckedContinuation<[String], any Error>) {
            let early = state.withLock { state -> Result<[String], any Error>? in
                if state.early == nil { state.continuation = continuation }
                return state.early
            }
            if let early { continuation.resume(with: early) }
        }

        func give(_ result: Result<[String], any Error>) {
            let continuation = state.withLock { state -> CheckedContinuation<[String], any Error>? in
                guard !state.given else { return nil }
                state.given = true
                guard let continuation = state.continuation else {
                    state.early = result
                    return nil
                }
                state.continuation = nil
                return continuation
            }
            continuation?.resume(with: result)
        }
    }

    /// The blocking lookup: every address, as numeric text (`93.184.216.34`, `2606:2800::1`).
    static func lookUp(_ host: String) throws -> [String] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Darwin)
        hints.ai_socktype = SOCK_STREAM
        #else
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0, let first = list else {
            throw Failure(host: host, reason: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(first) }
        var addresses: [String] = []
        var next: UnsafeMutablePointer<addrinfo>? = first
        while let entry = next {
            var text = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if let address = entry.pointee.ai_addr,
                getnameinfo(address, entry.pointee.ai_addrlen, &text, socklen_t(text.count), nil, 0, NI_NUMERICHOST) == 0
            {
                let numeric = String(cString: text)
                if !addresses.contains(numeric) { addresses.append(numeric) }
            }
            next = entry.pointee.ai_next
        }
        return addresses
    }
}
