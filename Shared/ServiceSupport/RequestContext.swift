import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The request context of every Greenlight HTTP service: Hummingbird's core context plus the address of the
/// connected client (for rate limits and the decision audit trail).
public struct GreenlightRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The client's IP address: the connection's peer, or with `trustForwardedFor` (behind one reverse proxy
    /// that appends to it) the last address of `X-Forwarded-For` — the one the proxy added; earlier entries are
    /// whatever the client sent and prove nothing. Nil when neither is known (in-process tests).
    public func clientAddress(of request: Request, trustForwardedFor: Bool) -> String? {
        if trustForwardedFor, let forwarded = request.headers[.xForwardedFor] {
            let last = forwarded.split(separator: ",").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            if !last.isEmpty { return String(last.prefix(64)) }
        }
        return remoteAddress?.ipAddress
    }
}

extension HTTPField.Name {
    public static let xForwardedFor = Self("X-Forwarded-For")!
}
