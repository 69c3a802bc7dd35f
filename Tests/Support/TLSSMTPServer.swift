import Foundation

/// A real SMTP server that requires STARTTLS and AUTH (Debian's python3-aiosmtpd running
/// Tests/Support/smtp_server.py), with a throwaway certificate authority made by openssl.
public final class TLSSMTPServer: Sendable {
    public let port: Int
    public let certificatePath: String
    public let outputDirectory: String
    public let user = "greenlight"
    public let password = "s3cret-pass"
    private let process: ChildProcess

    /// `implicitTLS`: TLS from the first byte (smtps) instead of STARTTLS. `onlyAuth`: offer just this AUTH
    /// mechanism (`"LOGIN"`, `"PLAIN"`) instead of both.
    public static func start(implicitTLS: Bool = false, onlyAuth: String? = nil) async throws -> TLSSMTPServer {
        let directory = TestEnvironment.scratchPath("tls-smtp-\(UUID().uuidString.prefix(8))")
        let output = directory + "/mail"
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let certificate = directory + "/cert.pem"
        let key = directory + "/key.pem"
        let status = try await ChildProcess.shell(
            "openssl req -x509 -newkey rsa:2048 -nodes -keyout \(key) -out \(certificate) -days 1 "
                + "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1", logPath: directory + "/openssl.log")
        guard status == 0 else { throw ChildProcessError(description: "openssl could not make a certificate (install openssl)") }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("smtp_server.py").path
        let port = try freePort()
        let server = try await TLSSMTPServer(
            port: port, certificate: certificate, output: output,
            process: ChildProcess(
                name: "smtp", executable: "/usr/bin/python3",
                arguments: [script, String(port), certificate, key, output, "greenlight", "s3cret-pass"]
                    + (implicitTLS ? ["--implicit-tls"] : []) + (onlyAuth.map { ["--only-auth", $0] } ?? []),
                logPath: directory + "/server.log"))
        let ready = try await eventually(timeout: .seconds(20), interval: .milliseconds(50)) {
            if server.process.hasExited {
                throw ChildProcessError(
                    description: "the SMTP server exited (is python3-aiosmtpd installed? scripts/install-deps --with-test-servers):\n\(server.process.logTail())")
            }
            return server.process.logTail().contains("READY")
        }
        guard ready else { throw ChildProcessError(description: "the SMTP server did not start") }
        return server
    }

    private init(port: Int, certificate: String, output: String, process: ChildProcess) {
        self.port = port
        certificatePath = certificate
        outputDirectory = output
        self.process = process
    }

    /// The messages accepted so far, raw.
    public var messages: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: outputDirectory)) ?? []
        return names.filter { $0.hasSuffix(".eml") }.sorted().compactMap {
            try? String(contentsOfFile: "\(outputDirectory)/\($0)", encoding: .utf8)
        }
    }

    public func stop() async {
        _ = await process.stop(grace: .seconds(3))
    }
}
