import Logging
import NIOCore
import NIOExtras
import NIOPosix
import Synchronization

/// A small SMTP server that accepts every message and keeps it: the mail sink for local runs and the real SMTP
/// peer for tests. Speaks EHLO/HELO, MAIL, RCPT, DATA (with dot-unstuffing), RSET, NOOP and QUIT over TCP.
public final class SMTPSink: Sendable {
    private let listener: Mutex<(any Channel)?>
    private let connections: Connections
    private let store: MailStore
    private let host: String
    private let refuse: @Sendable (String) -> Bool
    public let port: Int

    /// Starts listening on `host:port` (port 0 picks a free one). `onMessage` runs for every message received;
    /// a recipient for which `refuse` is true is answered `550` (a permanent failure, for tests).
    public static func start(
        host: String = "127.0.0.1", port: Int = 0, onMessage: @escaping @Sendable (ReceivedMail) -> Void = { _ in },
        refuse: @escaping @Sendable (String) -> Bool = { _ in false }
    ) async throws -> SMTPSink {
        let store = MailStore(onMessage: onMessage)
        let connections = Connections()
        let channel = try await listen(host: host, port: port, store: store, connections: connections, refuse: refuse)
        return SMTPSink(
            listener: channel, connections: connections, store: store, host: host, refuse: refuse,
            port: channel.localAddress?.port ?? port)
    }

    private static func listen(
        host: String, port: Int, store: MailStore, connections: Connections, refuse: @escaping @Sendable (String) -> Bool
    ) async throws -> any Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard connections.add(channel) else { return channel.eventLoop.makeSucceededVoidFuture() }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineBasedFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(SMTPSessionHandler(store: store, refuse: refuse))
                }
            }
            .bind(host: host, port: port).get()
    }

    private init(
        listener: any Channel, connections: Connections, store: MailStore, host: String,
        refuse: @escaping @Sendable (String) -> Bool, port: Int
    ) {
        self.listener = Mutex(listener)
        self.connections = connections
        self.store = store
        self.host = host
        self.refuse = refuse
        self.port = port
    }

    /// Every message received so far, oldest first.
    public var messages: [ReceivedMail] { store.all }

    /// An outage: every open connection is dropped, and every new one is closed at once, before the greeting, as a
    /// server that is down or cut off. (The port stays bound: once released, an outgoing connection could take it
    /// as its own local port before `resume()` binds it again.)
    public func pause() async {
        connections.refusing(true)
        await connections.closeAll()
    }

    /// Serves again after `pause()`.
    public func resume() {
        connections.refusing(false)
    }

    public func shutdown() async {
        let listener = self.listener.withLock { listener in
            defer { listener = nil }
            return listener
        }
        try? await listener?.close()
        await connections.closeAll()
    }
}

/// The open client connections, so that an outage can drop them, and whether new ones are refused.
final class Connections: Sendable {
    private let open = Mutex<[ObjectIdentifier: any Channel]>([:])
    private let refusingNew = Mutex(false)

    func refusing(_ refuse: Bool) {
        refusingNew.withLock { $0 = refuse }
    }

    /// Keeps an accepted connection, or closes it at once during an outage; false when closed.
    @discardableResult
    func add(_ channel: any Channel) -> Bool {
        if refusingNew.withLock({ $0 }) {
            channel.close(promise: nil)
            return false
        }
        let id = ObjectIdentifier(channel)
        open.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { [weak self] _ in _ = self?.open.withLock { $0.removeValue(forKey: id) } }
        return true
    }

    func closeAll() async {
        for channel in open.withLock({ Array($0.values) }) { try? await channel.close() }
    }
}

/// One message as the sink received it.
public struct ReceivedMail: Sendable {
    public var from: String
    public var recipients: [String]
    /// The message text as sent after DATA (CRLF line ends, dots unstuffed).
    public var raw: String

    public var parsed: ParsedMail { ParsedMail(raw: raw) }
}

final class MailStore: Sendable {
    private let mails = Mutex<[ReceivedMail]>([])
    private let onMessage: @Sendable (ReceivedMail) -> Void

    init(onMessage: @escaping @Sendable (ReceivedMail) -> Void) {
        self.onMessage = onMessage
    }

    func add(_ mail: ReceivedMail) {
        mails.withLock { $0.append(mail) }
        onMessage(mail)
    }

    var all: [ReceivedMail] { mails.withLock { $0 } }
}

/// One SMTP conversation. Lives on its channel's event loop.
final class SMTPSessionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let store: MailStore
    private let refuse: @Sendable (String) -> Bool
    private var from: String?
    private var recipients: [String] = []
    private var dataLines: [String]?

    init(store: MailStore, refuse: @escaping @Sendable (String) -> Bool) {
        self.store = store
        self.refuse = refuse
    }

    func channelActive(context: ChannelHandlerContext) {
        reply("220 greenlight-mail-sink ESMTP ready", context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        var line = buffer.readString(length: buffer.readableBytes) ?? ""
        if line.hasSuffix("\r") { line.removeLast() }

        if var lines = dataLines {
            if line == "." {
                dataLines = nil
                store.add(
                    ReceivedMail(from: from ?? "", recipients: recipients, raw: lines.joined(separator: "\r\n") + "\r\n"))
                from = nil
                recipients = []
                reply("250 2.0.0 Message accepted", context: context)
            } else {
                lines.append(line.hasPrefix("..") ? String(line.dropFirst()) : line)
                dataLines = lines
            }
            return
        }

        let verb = line.prefix(4).uppercased()
        switch verb {
        case "EHLO":
            reply("250-greenlight-mail-sink\r\n250-8BITMIME\r\n250-SIZE 10485760\r\n250 SMTPUTF8", context: context)
        case "HELO":
            reply("250 greenlight-mail-sink", context: context)
        case "MAIL":
            from = Self.address(in: line)
            recipients = []
            reply("250 2.1.0 OK", context: context)
        case "RCPT":
            guard from != nil else { return reply("503 5.5.1 MAIL first", context: context) }
            let address = Self.address(in: line)
            if refuse(address) { return reply("550 5.1.1 Mailbox unavailable", context: context) }
            recipients.append(address)
            reply("250 2.1.5 OK", context: context)
        case "DATA":
            guard !recipients.isEmpty else { return reply("503 5.5.1 RCPT first", context: context) }
            dataLines = []
            reply("354 End data with <CR><LF>.<CR><LF>", context: context)
        case "RSET":
            from = nil
            recipients = []
            reply("250 2.0.0 OK", context: context)
        case "NOOP":
            reply("250 2.0.0 OK", context: context)
        case "QUIT":
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "221 2.0.0 Bye\r\n"))).whenComplete { _ in
                context.close(promise: nil)
            }
        default:
            reply("502 5.5.2 Command not recognized", context: context)
        }
    }

    private func reply(_ text: String, context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text + "\r\n")), promise: nil)
    }

    /// The address between `<` and `>` in `MAIL FROM:<a@b>` or `RCPT TO:<a@b>`.
    static func address(in line: String) -> String {
        guard let open = line.firstIndex(of: "<"), let close = line[open...].firstIndex(of: ">") else {
            return String(line.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces)
        }
        return String(line[line.index(after: open)..<close])
    }
}
