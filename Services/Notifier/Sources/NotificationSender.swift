import Foundation
import GreenlightModels
import Kafka
import Logging
import Mail
import ServiceSupport

/// Consumes `approvals.notifications` and emails each approver. The offset is committed after the server took
/// the message; temporary failures (4xx, connection errors) are retried with back-off, permanent ones (5xx,
/// refused login) are logged and skipped.
struct NotificationSender: Sendable {
    let consumer: KafkaConsumer
    let smtp: SMTPClient
    let configuration: NotifierConfiguration
    let logger: Logger
    let maxAttempts = 8

    func run() async throws {
        for try await message in consumer.messages {
            await handle(message)
            do {
                try await consumer.commit(message)
            } catch {
                logger.warning("Offset not committed; the email may be sent again", metadata: ["error": "\(error)"])
            }
        }
    }

    func handle(_ message: KafkaMessage) async {
        let notification: NotificationRequested
        do {
            notification = try GreenlightJSON.decoder().decode(NotificationRequested.self, from: Data(message.value))
        } catch {
            logger.error(
                "Skipping a malformed notification",
                metadata: ["partition": "\(message.partition)", "offset": "\(message.offset)", "reason": "\(error)"])
            return
        }
        let metadata: Logger.Metadata = ["requestId": "\(notification.requestId)", "eventId": "\(notification.eventId)"]
        let mail = ApprovalEmail.make(for: notification, publicURL: configuration.publicURL, from: configuration.mailFrom)
        var delay = Duration.milliseconds(200)
        for attempt in 1...maxAttempts {
            do {
                try await smtp.send(mail)
                logger.info("Approval email sent", metadata: metadata)
                return
            } catch let error as SMTPError where !error.isPermanent && attempt < maxAttempts {
                logger.warning("Sending failed; retrying in \(delay)", metadata: metadata.merging(["error": "\(error)"]) { a, _ in a })
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(30))
            } catch {
                logger.error("Approval email not delivered", metadata: metadata.merging(["error": "\(error)"]) { a, _ in a })
                return
            }
        }
    }
}
