import Foundation
import GreenlightModels
import Logging
import Mail
import Metrics

/// Emails to a person that belong to no request: a sign-in link to the inbox, the daily digest.
extension DeliveryWorker {
    /// One attempt at a sign-in email: the token derived again from the event's nonce with the secret it names.
    func deliverSignIn(_ claim: DeliveryQueue.Claim) async throws {
        try await deliverPersonalEmail(claim, what: "sign-in link", metric: "greenlight_sign_in_emails_total") { (request: SignInLinkRequested) in
            guard let secret = configuration.linkKeys.secret(id: request.linkKey) else {
                throw Unsendable("unknown link secret \(request.linkKey): the link was made with a secret this notifier does not have")
            }
            return SignInEmail.make(
                for: request, token: SignInToken.derive(secret: secret, nonce: request.tokenNonce),
                publicURL: configuration.publicURL, from: configuration.mailFrom, templates: configuration.templates)
        }
    }

    /// One attempt at a person's daily digest, linking to their inbox.
    func deliverDigest(_ claim: DeliveryQueue.Claim) async throws {
        try await deliverPersonalEmail(claim, what: "daily digest", metric: "greenlight_digest_emails_total") { (digest: DigestRequested) in
            DigestEmail.make(for: digest, publicURL: configuration.publicURL, from: configuration.mailFrom, templates: configuration.templates)
        }
    }

    /// Why a stored message can never be sent.
    struct Unsendable: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// One attempt at a stored `Event` that `make` turns into an email: sent once, and recorded like an approver's
    /// email — sent, tried again with back-off, or failed for good (a permanent refusal, unreadable, or past its
    /// deadline first). Logs carry the event's id, never the address or a link.
    private func deliverPersonalEmail<Event: GreenlightEvent>(
        _ claim: DeliveryQueue.Claim, what: String, metric: String, make: (Event) throws -> MailMessage
    ) async throws {
        var metadata: Logger.Metadata = ["eventId": "\(claim.notificationId)", "attempt": "\(claim.attempt)"]
        func end(_ outcome: DeliveryQueue.Outcome, _ result: String) async throws {
            let report = try await record(claim, outcome)
            Counter(label: metric, dimensions: [("result", result)]).increment()
            await reporter.publishRecorded(report, trace: nil)
        }
        let mail: MailMessage
        do {
            mail = try make(try GreenlightJSON.decode(Event.self, from: Data(claim.payload.utf8)))
        } catch let error as Unsendable {
            logger.error("A \(what) cannot be sent: \(error)", metadata: metadata)
            return try await end(.failed(error: error.description), "failed")
        } catch {
            return try await end(.failed(error: "the stored \(what) cannot be read: \(error)"), "failed")
        }
        if claim.now >= claim.deadline {
            return try await end(.failed(error: "the \(what) went stale before it could be sent"), "expired")
        }
        let smtp = self.smtp
        let cancelled = DeliveryFailure(description: "the send was cancelled", isPermanent: false)
        let failure: DeliveryFailure? = await keepingClaim(claim, whileCancelled: cancelled) { () async -> DeliveryFailure? in
            do {
                try await smtp.send(mail)
                return nil
            } catch {
                let smtpError = error as? SMTPError ?? SMTPError(.connectionFailed, "\(error)")
                return DeliveryFailure(description: "\(smtpError)", isPermanent: smtpError.isPermanent)
            }
        }
        guard let failure else {
            logger.info("\(what.prefix(1).uppercased() + what.dropFirst()) sent", metadata: metadata)
            return try await end(.sent, "sent")
        }
        metadata["error"] = "\(failure)"
        if failure.isPermanent {
            logger.error("A \(what) could not be sent", metadata: metadata)
            return try await end(.failed(error: failure.description), "failed")
        }
        logger.warning("Sending a \(what) failed; trying again later", metadata: metadata)
        try await end(.retry(error: failure.description, after: schedule.delaySeconds(afterAttempt: claim.attempt)), "retried")
    }
}
