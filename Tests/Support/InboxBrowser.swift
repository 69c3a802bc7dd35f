import AsyncHTTPClient
import Foundation
import MailSink
import NIOCore
import Synchronization

/// What a browser does with the inbox, over plain HTTP: keeps the `greenlight_session` cookie it is given, follows
/// no redirect by itself (a test reads where it goes), and says its forms come from the same origin
/// (`Sec-Fetch-Site`), as a browser posting the inbox's own forms does.
public final class InboxBrowser: Sendable {
    public let baseURL: String
    private let cookie = Mutex<String?>(nil)

    public init(baseURL: String) {
        self.baseURL = baseURL
    }

    public var session: String? { cookie.withLock { $0 } }

    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.tracing.tracer = nil
        return HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup, configuration: configuration)
    }()

    public func get(_ path: String) async throws -> HTTP.Response {
        try await send(HTTPClientRequest(url: url(path)))
    }

    /// POSTs `fields` as a form (each name may repeat), percent-encoded.
    public func post(_ path: String, _ fields: [(String, String)], site: String = "same-origin") async throws -> HTTP.Response {
        var request = HTTPClientRequest(url: url(path))
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Sec-Fetch-Site", value: site)
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        request.body = .bytes(ByteBuffer(string: fields.map {
            "\($0.0.addingPercentEncoding(withAllowedCharacters: allowed)!)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)"
        }.joined(separator: "&")))
        return try await send(request)
    }

    /// Asks for a sign-in link for `email`, waits for the email the sink receives, and presses the link's button.
    /// Returns the answer to that press (a 303 to `/inbox` that sets the cookie, when it worked).
    @discardableResult
    public func signIn(_ email: String, sink: SMTPSink, timeout: Duration = .seconds(30)) async throws -> HTTP.Response {
        let before = Self.signInLinks(to: email, sink: sink).count
        let asked = try await post("/inbox/sign-in", [("email", email)])
        guard asked.status == 200 else { throw ChildProcessError(description: "sign-in answered \(asked.status): \(asked.body)") }
        var link: String?
        _ = try await eventually(timeout: timeout) {
            let links = Self.signInLinks(to: email, sink: sink)
            link = links.count > before ? links.last : nil
            return link != nil
        }
        guard let link, let path = URLComponents(string: link)?.path else {
            throw ChildProcessError(description: "no sign-in email reached \(email)")
        }
        return try await post(path, [])
    }

    /// The sign-in links emailed to `email`, oldest first.
    public static func signInLinks(to email: String, sink: SMTPSink) -> [String] {
        sink.messages.map(\.parsed).filter {
            $0.header("X-Greenlight-Kind") == "sign-in" && ($0.header("To") ?? "").contains(email)
        }.compactMap { $0.links.first { $0.contains("/inbox/sign-in/") } }
    }

    /// The hidden `csrf` field of a page.
    public static func csrf(in page: String) -> String? {
        guard let marker = page.range(of: #"name="csrf" value=""#) else { return nil }
        return String(page[marker.upperBound...].prefix { $0 != "\"" })
    }

    func url(_ path: String) -> String { path.hasPrefix("http") ? path : baseURL + path }

    func send(_ request: HTTPClientRequest) async throws -> HTTP.Response {
        var request = request
        if let session { request.headers.add(name: "Cookie", value: "greenlight_session=\(session)") }
        let response = try await Self.client.execute(request, timeout: .seconds(30))
        for header in response.headers[canonicalForm: "Set-Cookie"] where header.hasPrefix("greenlight_session=") {
            let value = header.dropFirst("greenlight_session=".count).prefix { $0 != ";" }
            cookie.withLock { $0 = value.isEmpty ? nil : String(value) }
        }
        let body = try await response.body.collect(upTo: 4 * 1024 * 1024)
        return HTTP.Response(
            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: String(buffer: body))
    }
}
