import Foundation
import GreenlightModels
import Logging
import Mail
import Metrics

extension DeliveryWorker {
    /// One attempt at a sign-in email: the token derived again from the event's nonce with the secret it names, sent
    /// once, and recorded like an approver's email — sent, tried again with back-off, or failed for good (a permanent
    /// refusal, or the link expired first). Logs carry the event's id, never the address or the link.
    func deliverSignIn(_ claim: DeliveryQueue.Claim) async throws {
        var metadata: Logger.Metadata = ["eventId": "\(claim.notificationId)", "attempt": "\(claim.attempt)"]
        func end(_ outcome: DeliveryQueue.Outcome, _ result: String) async throws {
            try await record(claim, outcome)
            Counter(label: "greenlight_sign_in_emails_total", dimensions: [("result", result)]).increment()
            await reporter.publishLatest(for: claim.notificationId, trace: nil)
        }
        let request: SignInLinkRequested
        do {
            request = try GreenlightJSON.decoder().decode(SignInLinkRequested.self, from: Data(claim.payload.utf8))
        } catch {
            return try await end(.failed(error: "the stored sign-in request cannot be read: \(error)"), "failed")
        }
        guard let secret = configuration.linkKeys.secret(id: request.linkKey) else {
            logger.error("A sign-in link was made with a link secret this notifier does not have", metadata: metadata)
            return try await end(.failed(error: "unknown link secret \(request.linkKey)"), "failed")
        }
        if claim.now >= claim.deadline {
            return try await end(.failed(error: "the sign-in link expired before it could be sent"), "expired")
        }
        let mail = SignInEmail.make(
            for: request, token: SignInToken.derive(secret: secret, nonce: request.tokenNonce),
            publicURL: configuration.publicURL, from: configuration.mailFrom, templates: configuration.templates)
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
            logger.info("Sign-in link sent", metadata: metadata)
            return try await end(.sent, "sent")
        }
        metadata["error"] = "\(failure)"
        if failure.isPermanent {
            logger.error("A sign-in link could not be sent", metadata: metadata)
            return try await end(.failed(error: failure.description), "failed")
        }
        logger.warning("Sending a sign-in link failed; trying again later", metadata: metadata)
        try await end(.retry(error: failure.description, after: schedule.delaySeconds(afterAttempt: claim.attempt)), "retried")
    }
}
