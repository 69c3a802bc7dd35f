import Foundation
import GreenlightTestSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A TCP relay in front of the test PostgreSQL server that reads just enough of the protocol's framing to hold a
/// connection's messages from its next Bind on, as a slow network between two of a call's exchanges would: the
/// statement has been prepared, and its execution has not reached the server, whose backend sits idle. It also counts
/// the cancel requests it carried that the server answered (closed), which by then has signalled the backend.
final class HoldingRelay: Sendable {
    /// The relay's port on 127.0.0.1.
    let port: Int
    private let serverPort: Int
    private let listener: Int32
    private let state = Mutex(State())

    private struct State {
        var armed = false
        var holding = false
        var cancelsAnswered = 0
        var stopped = false
        var sockets: [Int32] = []
    }

    /// Starts relaying to the server that `url` (a `postgresql://` URL on 127.0.0.1) names.
    init(to url: String) throws {
        guard let serverPort = URLComponents(string: url)?.port else {
            throw ChildProcessError(description: "no port in \(url)")
        }
        self.serverPort = serverPort
        (listener, port) = try listeningOnLoopback()
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// `url` pointed at the relay, without TLS or GSS encryption (the relay reads the messages).
    func url(for url: String) -> String {
        var components = URLComponents(string: url)!
        components.port = port
        components.queryItems = (components.queryItems ?? []) + [
            URLQueryItem(name: "sslmode", value: "disable"), URLQueryItem(name: "gssencmode", value: "disable"),
        ]
        return components.string!
    }

    /// Holds the next Bind any connection sends, and everything that connection sends after it, until `release()`.
    func holdNextBind() { state.withLock { $0.armed = true } }

    /// Whether a Bind is held now.
    var isHolding: Bool { state.withLock { $0.holding } }

    /// Lets what is held go on to the server.
    func release() { state.withLock { $0.holding = false } }

    /// How many cancel requests the relay carried that the server has answered.
    var cancelsAnswered: Int { state.withLock { $0.cancelsAnswered } }

    /// Stops accepting and ends every relayed connection.
    func stop() {
        let sockets = state.withLock { state -> [Int32] in
            state.stopped = true
            state.holding = false
            return state.sockets
        }
        shutdown(listener, Int32(SHUT_RDWR))
        for socket in sockets { shutdown(socket, Int32(SHUT_RDWR)) }
    }

    deinit {
        close(listener)
        for socket in state.withLock({ $0.sockets }) { close(socket) }
    }

    // MARK: - Relaying

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            let server = connectToLoopback(port: serverPort)
            let open = state.withLock { state -> Bool in
                state.sockets += [client] + (server.map { [$0] } ?? [])
                return !state.stopped
            }
            guard let server, open else {
                shutdown(client, Int32(SHUT_RDWR))
                if !open { return }
                continue
            }
            let isCancel = CancelFlag()
            Thread.detachNewThread { [self] in relayClient(from: client, to: server, isCancel: isCancel) }
            Thread.detachNewThread { [self] in
                // The server's side: copied as it comes. A cancel request's connection is closed by the server
                // once it has signalled the backend.
                var buffer = [UInt8](repeating: 0, count: 16_384)
                while true {
                    let count = buffer.withUnsafeMutableBytes { recv(server, $0.baseAddress, $0.count, 0) }
                    guard count > 0, Self.send(buffer[0..<count], to: client) else { break }
                }
                if isCancel.value.load(ordering: .acquiring) { state.withLock { $0.cancelsAnswered += 1 } }
                shutdown(client, Int32(SHUT_RDWR))
            }
        }
    }

    /// The client's side, one message at a time: the length-framed start-up messages (an SSL, GSS or cancel request,
    /// then the start-up message), then typed ones.
    private func relayClient(from client: Int32, to server: Int32, isCancel: CancelFlag) {
        defer { shutdown(server, Int32(SHUT_WR)) }
        var typed = false
        while true {
            let type: [UInt8] = typed ? (Self.receive(1, from: client) ?? []) : []
            guard !typed || type.count == 1, let length = Self.receive(4, from: client) else { return }
            let size = Int(length.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            guard size >= 4, let body = Self.receive(size - 4, from: client) else { return }
            if !typed, body.count >= 4 {
                let code = body[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                if code == 80_877_102 { isCancel.value.store(true, ordering: .releasing) }
                if code == 196_608 { typed = true }
            }
            if type == [UInt8(ascii: "B")] {
                let holds = state.withLock { state -> Bool in
                    guard state.armed else { return false }
                    state.armed = false
                    state.holding = true
                    return true
                }
                while holds, state.withLock({ $0.holding }) { usleep(1_000) }
            }
            guard Self.send(type + length + body, to: server) else { return }
        }
    }

    private static func receive(_ count: Int, from socket: Int32) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var received = 0
        while received < count {
            let n = bytes.withUnsafeMutableBytes { recv(socket, $0.baseAddress! + received, count - received, 0) }
            guard n > 0 else { return nil }
            received += n
        }
        return bytes
    }

    private static func send(_ bytes: some Collection<UInt8>, to socket: Int32) -> Bool {
        let bytes = Array(bytes)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(socket, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return false }
            sent += n
        }
        return true
    }
}

/// Whether a relayed connection carried a cancel request (set by its client's side, read by its server's).
private final class CancelFlag: Sendable {
    let value = Atomic(false)
}
