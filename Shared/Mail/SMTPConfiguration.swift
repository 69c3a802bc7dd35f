import Foundation

/// How to reach the SMTP server: `smtp://[user:pass@]host:port[?tls=starttls|none]` or
/// `smtps://[user:pass@]host:port` (implicit TLS); `&cafile=/path/ca.pem` trusts a private certificate authority.
public struct SMTPConfiguration: Sendable, CustomStringConvertible {
    public enum Security: String, Sendable {
        /// Plain SMTP, no TLS (local mail catchers).
        case none
        /// STARTTLS is required before anything else is sent.
        case startTLS = "starttls"
        /// TLS from the first byte (port 465).
        case implicitTLS = "tls"
    }

    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?
    public var security: Security
    /// PEM file of the certificate authorities to trust instead of the system's.
    public var caFile: String?
    public var connectTimeout: Duration
    public var timeout: Duration

    public init(
        host: String, port: Int, username: String? = nil, password: String? = nil, security: Security = .none,
        caFile: String? = nil, connectTimeout: Duration = .seconds(10), timeout: Duration = .seconds(30)
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.security = security
        self.caFile = caFile
        self.connectTimeout = connectTimeout
        self.timeout = timeout
    }

    public init(url text: String) throws {
        guard let components = URLComponents(string: text), let scheme = components.scheme,
            scheme == "smtp" || scheme == "smtps"
        else {
            throw SMTPError(.invalidConfiguration, "expected smtp://[user:pass@]host:port or smtps://…")
        }
        guard let host = components.host, !host.isEmpty else {
            throw SMTPError(.invalidConfiguration, "the SMTP URL has no host")
        }
        let tls = components.queryItems?.first { $0.name == "tls" }?.value?.lowercased()
        let security: Security
        switch (scheme, tls) {
        case ("smtps", _): security = .implicitTLS
        case (_, nil), (_, "none"), (_, "false"): security = .none
        case (_, "starttls"): security = .startTLS
        case (_, "tls"), (_, "implicit"): security = .implicitTLS
        case (_, let other?):
            throw SMTPError(.invalidConfiguration, "tls=\(other) is not one of none, starttls, tls")
        }
        self.init(
            host: host, port: components.port ?? (security == .implicitTLS ? 465 : 25),
            username: components.percentEncodedUser?.removingPercentEncoding,
            password: components.percentEncodedPassword?.removingPercentEncoding, security: security,
            caFile: components.queryItems?.first { $0.name == "cafile" }?.value)
    }

    /// The URL without its password, for logs.
    public var description: String {
        let scheme = security == .implicitTLS ? "smtps" : "smtp"
        let user = username.map { "\($0):***@" } ?? ""
        let query = security == .startTLS ? "?tls=starttls" : ""
        return "\(scheme)://\(user)\(host):\(port)\(query)"
    }
}

/// A failed delivery. `isPermanent` (a 5xx reply, refused login) means retrying will not help.
public struct SMTPError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalidConfiguration
        case invalidMessage
        /// The server could not be reached, or the connection broke or timed out.
        case connectionFailed
        /// The server answered 4xx: try again later.
        case temporaryFailure
        /// The server answered 5xx or refused the login: do not retry.
        case permanentFailure
    }

    public var code: Code
    public var reason: String
    /// The server's last reply code, when there was one.
    public var replyCode: Int?

    public init(_ code: Code, _ reason: String, replyCode: Int? = nil) {
        self.code = code
        self.reason = reason
        self.replyCode = replyCode
    }

    public var isPermanent: Bool { code == .permanentFailure || code == .invalidMessage || code == .invalidConfiguration }

    public var description: String {
        "SMTP \(code.rawValue): \(reason)" + (replyCode.map { " (reply \($0))" } ?? "")
    }
}
