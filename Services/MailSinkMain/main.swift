import Foundation
import MailSink

// The mail sink for local runs: an SMTP server that accepts every message and prints who it is for, its
// subject and its links, so a developer can click them without a real mailbox.
let environment = ProcessInfo.processInfo.environment
let host = environment["GREENLIGHT_MAIL_SINK_HOST"] ?? "127.0.0.1"
let port = Int(environment["GREENLIGHT_MAIL_SINK_PORT"] ?? "1025") ?? 1025
let sink = try await SMTPSink.start(host: host, port: port) { mail in
    let parsed = mail.parsed
    var lines = ["", "📧 To: \(mail.recipients.joined(separator: ", "))", "   Subject: \(parsed.subject)"]
    lines += parsed.links.map { "   \($0)" }
    FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
}
FileHandle.standardOutput.write(Data("Mail sink listening on smtp://\(host):\(sink.port)\n".utf8))
while true { try await Task.sleep(for: .seconds(3600)) }
