import CLibPQ
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Listens on one or more channels (`LISTEN channel`) over a connection of its own and wakes the subscriptions waiting
/// for a notification's payload, whichever of the channels it came on. Does nothing until `run()`, which waits on the connection's socket on a thread of its own
/// (never Swift's cooperative pool), reconnects whenever the connection is lost (a Postgres restart, a terminated
/// backend) and then wakes every subscription with `.reconnected`, since what was sent meanwhile never arrives.
/// When `run()` ends (cancelled), every subscription wakes with `.closed`.
///
/// A waiter subscribes first and then reads what it waits for, so that a change committed in between is either
/// seen by the read or notified: NOTIFY is delivered when its transaction commits.
public final class PostgresListener: Sendable {
    public let channels: [String]
    public let maxSubscriptions: Int
    let configuration: PostgresConfiguration
    let logger: Logger

    private struct Table {
        var byPayload: [String: [UInt64: PostgresSubscription]] = [:]
        var count = 0
        var nextId: UInt64 = 0
        var closed = false
    }

    private let table = Mutex(Table())
    private let listening = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    /// A pipe whose read end the listening thread polls beside the socket: a byte written to it stops the thread.
    private let wakeUpPipe: (read: Int32, write: Int32)

    /// `channel` is an identifier of letters, digits and underscores (it is spliced into `LISTEN`).
    public convenience init(configuration: PostgresConfiguration, channel: String, maxSubscriptions: Int = 10_000, logger: Logger) {
        self.init(configuration: configuration, channels: [channel], maxSubscriptions: maxSubscriptions, logger: logger)
    }

    /// Each of `channels` is an identifier of letters, digits and underscores (it is spliced into `LISTEN`).
    public init(configuration: PostgresConfiguration, channels: [String], maxSubscriptions: Int = 10_000, logger: Logger) {
        precondition(!channels.isEmpty, "a listener listens on at least one channel")
        for channel in channels {
            precondition(
                !channel.isEmpty && channel.count <= 63 && channel.first?.isNumber == false
                    && channel.allSatisfy { ($0.isLetter || $0.isNumber || $0 == "_") && $0.isASCII },
                "a channel name is an identifier")
        }
        precondition(maxSubscriptions > 0)
        self.configuration = configuration
        self.channels = channels
        self.maxSubscriptions = maxSubscriptions
        self.logger = logger
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { fatalError("pipe() failed: \(errno)") }
        wakeUpPipe = (fds[0], fds[1])
    }

    deinit {
        close(wakeUpPipe.read)
        close(wakeUpPipe.write)
    }

    /// The channels, for log lines and errors.
    var channelNames: String { channels.joined(separator: ", ") }

    /// Whether the connection is up and listening now.
    public var isListening: Bool { listening.load(ordering: .acquiring) }

    /// How many subscriptions are open.
    public var subscriptionCount: Int { table.withLock { $0.count } }

    /// Listens until cancelled, reconnecting as often as needed; then wakes every subscription with `.closed`.
    public func run() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let thread = Thread { [self] in
                    listenUntilStopped()
                    continuation.resume()
                }
                thread.name = "greenlight.postgres.listener"
                thread.start()
            }
        } onCancel: {
            stop()
        }
        let subscriptions = table.withLock { table -> [PostgresSubscription] in
            table.closed = true
            return table.byPayload.values.flatMap(\.values)
        }
        for subscription in subscriptions { subscription.close() }
    }

    /// Runs `body` with a subscription to `payload`, ended when `body` returns or throws. Throws
    /// `PostgresError(.tooManySubscriptions)` when `maxSubscriptions` are open already. Once the listener has
    /// stopped, the subscription is closed from the start.
    public func withSubscription<T>(to payload: String, _ body: (PostgresSubscription) async throws -> T) async throws -> T {
        let subscription = try subscribe(payload)
        defer { unsubscribe(subscription) }
        return try await body(subscription)
    }

    private func subscribe(_ payload: String) throws -> PostgresSubscription {
        let (subscription, closed) = try table.withLock { table -> (PostgresSubscription, Bool) in
            guard table.count < maxSubscriptions else {
                throw PostgresError(
                    .tooManySubscriptions,
                    "the listener on \(channelNames) already has its \(maxSubscriptions) subscriptions; try again later")
            }
            table.nextId += 1
            table.count += 1
            let subscription = PostgresSubscription(payload: payload, id: table.nextId)
            table.byPayload[payload, default: [:]][subscription.id] = subscription
            return (subscription, table.closed)
        }
        if closed { subscription.close() }
        return subscription
    }

    private func unsubscribe(_ subscription: PostgresSubscription) {
        table.withLock { table in
            guard table.byPayload[subscription.payload]?.removeValue(forKey: subscription.id) != nil else { return }
            table.count -= 1
            if table.byPayload[subscription.payload]?.isEmpty == true { table.byPayload[subscription.payload] = nil }
        }
        subscription.close()
    }

    private func deliver(_ wake: PostgresWake, payload: String?) {
        let subscriptions = table.withLock { table in
            payload.map { table.byPayload[$0].map { Array($0.values) } ?? [] } ?? table.byPayload.values.flatMap(\.values)
        }
        for subscription in subscriptions { subscription.deliver(wake) }
    }

    private func stop() {
        stopping.store(true, ordering: .releasing)
        var byte: UInt8 = 1
        _ = write(wakeUpPipe.write, &byte, 1)
    }

    private var isStopping: Bool { stopping.load(ordering: .acquiring) }

    // MARK: - The listening thread

    /// The thread's body: connect and listen, wait for notifications, and start over when the connection goes;
    /// between failed attempts it waits (up to 5 s), and a stop ends any wait at once.
    private func listenUntilStopped() {
        var delay = 0.1
        while !isStopping {
            guard let connection = connectAndListen() else {
                waitForStop(seconds: delay)
                delay = min(delay * 2, 5)
                continue
            }
            delay = 0.1
            logger.info("Listening for notifications", metadata: ["channel": "\(channelNames)"])
            // Whatever was notified while the connection was down (or before it first came up) never arrives: those
            // waiting read again. Said before `isListening` turns true, so that one who subscribes after seeing it hears
            // notifications only.
            deliver(.reconnected, payload: nil)
            listening.store(true, ordering: .releasing)
            receiveNotifications(on: connection)
            listening.store(false, ordering: .releasing)
            PQfinish(connection)
            if !isStopping {
                logger.warning("Lost the connection that listens for notifications; reconnecting", metadata: ["channel": "\(channelNames)"])
            }
        }
    }

    /// A connection with `LISTEN` in force, or nil (logged) when none could be made. TCP keepalives make a server
    /// that vanished without closing the connection show within about half a minute.
    private func connectAndListen() -> OpaquePointer? {
        let keywords = ["dbname", "keepalives_idle", "keepalives_interval", "keepalives_count", "fallback_application_name"]
        let values = [configuration.connectionURL, "10", "5", "3", "greenlight-listener"]
        let connection = withCStrings(keywords) { keywords in
            withCStrings(values) { values in PQconnectdbParams(keywords, values, 1) }
        }
        guard let connection else { return nil }
        guard PQstatus(connection) == CONNECTION_OK else {
            logger.warning(
                "Cannot connect to listen for notifications",
                metadata: ["database": "\(configuration.maskedURL)", "error": "\(PostgresConnection.firstLine(PQerrorMessage(connection)))"])
            PQfinish(connection)
            return nil
        }
        for channel in channels {
            let result = PQexec(connection, "LISTEN \(channel)")
            defer { PQclear(result) }
            guard PQresultStatus(result) == PGRES_COMMAND_OK else {
                logger.warning("LISTEN failed", metadata: ["channel": "\(channel)", "error": "\(PostgresConnection.firstLine(PQerrorMessage(connection)))"])
                PQfinish(connection)
                return nil
            }
        }
        return connection
    }

    /// Waits on the socket and hands each notification to its subscriptions, until the connection fails or a stop.
    private func receiveNotifications(on connection: OpaquePointer) {
        let socket = PQsocket(connection)
        guard socket >= 0 else { return }
        while !isStopping {
            var fds = [
                pollfd(fd: socket, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeUpPipe.read, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            if fds[1].revents != 0 { return }
            guard PQconsumeInput(connection) == 1, PQstatus(connection) == CONNECTION_OK else { return }
            while let notification = PQnotifies(connection) {
                let payload = String(cString: notification.pointee.extra)
                PQfreemem(notification)
                deliver(.notified, payload: payload)
            }
        }
    }

    /// Sleeps on the wake-up pipe: returns after `seconds`, or at once when stopped.
    private func waitForStop(seconds: Double) {
        var fds = [pollfd(fd: wakeUpPipe.read, events: Int16(POLLIN), revents: 0)]
        _ = poll(&fds, 1, Int32(seconds * 1000))
    }
}

/// Calls `body` with a NULL-terminated array of C strings that live as long as the call.
private func withCStrings<T>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> T) -> T {
    let copies = strings.map { strdup($0) }
    defer { for copy in copies { free(copy) } }
    let pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
