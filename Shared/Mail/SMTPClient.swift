import CCurl
import Foundation
import Logging

/// Sends mail over SMTP with libcurl (STARTTLS, implicit TLS, AUTH PLAIN/LOGIN, timeouts). Sends run one at a
/// time on the client's own queue, because `curl_easy_perform` blocks; the easy handle is kept between sends so
/// libcurl reuses the connection.
/// `@unchecked Sendable`: the CURL handle is only touched on `queue`.
public final class SMTPClient: @unchecked Sendable {
    public let configuration: SMTPConfiguration
    private let queue = DispatchQueue(label: "greenlight.smtp")
    private var handle: UnsafeMutableRawPointer?

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    public init(configuration: SMTPConfiguration) {
        _ = Self.globalInit
        self.configuration = configuration
    }

    deinit {
        if let handle { curl_easy_cleanup(handle) }
    }

    /// Delivers `message` to every recipient, or throws an `SMTPError` saying whether to retry.
    public func send(_ message: MailMessage) async throws {
        guard !message.to.isEmpty else { throw SMTPError(.invalidMessage, "the message has no recipients") }
        let payload = Array(message.rendered().utf8)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            queue.async {
                continuation.resume(with: Result { try self.perform(from: message.from, to: message.to, payload: payload) })
            }
        }
    }

    /// Called on `queue`.
    private func perform(from: String, to: [String], payload: [UInt8]) throws {
        if handle == nil { handle = curl_easy_init() }
        guard let curl = handle else { throw SMTPError(.connectionFailed, "libcurl could not create a handle") }
        curl_easy_reset(curl)

        let config = configuration
        let scheme = config.security == .implicitTLS ? "smtps" : "smtp"
        var options: [(CURLoption, String)] = [
            (CURLOPT_URL, "\(scheme)://\(config.host):\(config.port)"),
            (CURLOPT_MAIL_FROM, "<\(from)>"),
        ]
        if let username = config.username { options.append((CURLOPT_USERNAME, username)) }
        if let caFile = config.caFile { options.append((CURLOPT_CAINFO, caFile)) }
        if let password = config.password { options.append((CURLOPT_PASSWORD, password)) }
        for (option, value) in options { greenlight_curl_set_string(curl, option, value) }
        greenlight_curl_set_long(curl, CURLOPT_UPLOAD, 1)
        greenlight_curl_set_long(curl, CURLOPT_NOSIGNAL, 1)
        greenlight_curl_set_long(curl, CURLOPT_CONNECTTIMEOUT_MS, Int(config.connectTimeout.components.seconds * 1000))
        greenlight_curl_set_long(curl, CURLOPT_TIMEOUT_MS, Int(config.timeout.components.seconds * 1000))
        if config.security == .startTLS {
            greenlight_curl_set_long(curl, CURLOPT_USE_SSL, Int(CURLUSESSL_ALL.rawValue))
        }

        var recipients: UnsafeMutablePointer<curl_slist>?
        for address in to { recipients = curl_slist_append(recipients, "<\(address)>") }
        defer { curl_slist_free_all(recipients) }
        greenlight_curl_set_pointer(curl, CURLOPT_MAIL_RCPT, recipients)

        let source = UploadSource(payload)
        let unmanaged = Unmanaged.passRetained(source)
        defer { unmanaged.release() }
        greenlight_curl_set_read_function(curl, uploadCallback)
        greenlight_curl_set_pointer(curl, CURLOPT_READDATA, unmanaged.toOpaque())

        let result = curl_easy_perform(curl)
        var reply = 0
        greenlight_curl_get_long(curl, CURLINFO_RESPONSE_CODE, &reply)
        guard result != CURLE_OK else { return }
        // A failed connection is not reused.
        curl_easy_cleanup(curl)
        handle = nil
        let reason = String(cString: curl_easy_strerror(result))
        switch reply {
        case 500...599:
            throw SMTPError(.permanentFailure, reason, replyCode: reply)
        case 400...499:
            throw SMTPError(.temporaryFailure, reason, replyCode: reply)
        default:
            if result == CURLE_LOGIN_DENIED {
                throw SMTPError(.permanentFailure, "the server refused the login; check the user and password in GREENLIGHT_SMTP_URL")
            }
            if result == CURLE_USE_SSL_FAILED {
                throw SMTPError(.permanentFailure, "the server does not offer STARTTLS, which GREENLIGHT_SMTP_URL requires")
            }
            throw SMTPError(.connectionFailed, "\(reason) (\(config.host):\(config.port))", replyCode: reply == 0 ? nil : reply)
        }
    }
}

/// The bytes libcurl reads the message from.
private final class UploadSource {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }
}

private let uploadCallback: greenlight_curl_read_callback = { buffer, size, count, userdata in
    guard let buffer, let userdata else { return 0 }
    let source = Unmanaged<UploadSource>.fromOpaque(userdata).takeUnretainedValue()
    let room = size * count
    let remaining = source.bytes.count - source.offset
    let length = min(room, remaining)
    guard length > 0 else { return 0 }
    source.bytes.withUnsafeBytes { raw in
        UnsafeMutableRawPointer(buffer).copyMemory(from: raw.baseAddress! + source.offset, byteCount: length)
    }
    source.offset += length
    return length
}
