import ApprovalStore
import Foundation
import GreenlightModels
import Logging
import Metrics
import Postgres
import ServiceLifecycle
import ServiceSupport

/// The daily digest (`GREENLIGHT_DIGEST_HOUR`): once a UTC day, from that hour on, everyone something waits on gets one
/// email listing it, with a link to their inbox. The receiver that claims the day (`portal_digests`, a lease, so that
/// of several receivers one does it and another takes over if it dies) publishes one `DigestRequested` per person;
/// their ids are derived from the day and the address, so a run repeated after a crash sends nobody a second digest
/// (the notifier keeps each id once).
public struct DigestScheduler: Service {
    let pool: PostgresPool
    let reader: ApprovalReader
    let publisher: any EventPublishing
    /// The UTC hour (0–23) from which the day's digest goes out.
    let hour: Int
    /// Who claims the day (in `portal_digests.claimed_by`).
    let instance: String
    /// How often it looks whether the day's digest is due.
    let interval: Duration
    /// How long a claim holds the day.
    let lease: Duration
    let logger: Logger

    public init(
        pool: PostgresPool, publisher: any EventPublishing, hour: Int, instance: String = "callbacks-\(UUID().uuidString.prefix(8))",
        interval: Duration = .seconds(60), lease: Duration = .seconds(1800), logger: Logger
    ) {
        self.pool = pool
        reader = ApprovalReader(pool: pool)
        self.publisher = publisher
        self.hour = hour
        self.instance = instance
        self.interval = interval
        self.lease = lease
        self.logger = logger
    }

    public func run() async throws {
        try await cancelWhenShuttingDown {
            while !Task.isCancelled {
                do {
                    try await runIfDue()
                } catch is CancellationError {
                    return
                } catch {
                    logger.warning("The daily digest could not run; trying again later", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: interval)
            }
        }
    }

    /// Sends today's digest if it is due (the hour has come, by the database's clock) and no receiver has sent it or
    /// holds it; returns how many people it went to, or nil when there was nothing to do.
    @discardableResult
    public func runIfDue() async throws -> Int? {
        let claimed = try await pool.query(
            """
            WITH today AS (SELECT (now() AT TIME ZONE 'UTC')::date AS day, now() AS at)
            INSERT INTO portal_digests (day, claimed_by, claimed_until)
            SELECT day, \(instance), at + make_interval(secs => \(leaseSeconds)) FROM today
            WHERE extract(hour FROM at AT TIME ZONE 'UTC') >= \(hour)
            ON CONFLICT (day) DO UPDATE SET claimed_by = EXCLUDED.claimed_by, claimed_until = EXCLUDED.claimed_until
            WHERE portal_digests.finished_at IS NULL AND portal_digests.claimed_until < now()
            RETURNING to_char(day, 'YYYY-MM-DD'), now()
            """
        ).decode((String, Date).self)
        guard let (day, at) = claimed.first else { return nil }
        logger.info("Sending the daily digest", metadata: ["day": "\(day)"])
        do {
            let sent = try await send(day: day, at: at)
            let finished = try await pool.query(
                """
                UPDATE portal_digests SET finished_at = now(), recipients = \(sent)
                WHERE day = \(day)::date AND claimed_by = \(instance) AND finished_at IS NULL
                """
            ).affectedRows
            guard finished == 1 else { throw DigestClaimLost(day: day) }
            Counter(label: "greenlight_digests_total").increment(by: sent)
            logger.info("Daily digest sent", metadata: ["day": "\(day)", "recipients": "\(sent)"])
            return sent
        } catch let lost as DigestClaimLost {
            throw lost
        } catch {
            // Let another receiver (or this one, at its next look) take the day over at once rather than when the
            // claim runs out; what was published already goes out once (the same ids again).
            _ = try? await pool.query(
                """
                UPDATE portal_digests SET claimed_until = now()
                WHERE day = \(day)::date AND claimed_by = \(instance) AND finished_at IS NULL
                """)
            throw error
        }
    }

    /// Publishes the day's digest for everyone something waits on; renews the claim as it goes, and stops if another
    /// receiver has taken the day over (its claim ran out). Returns how many people it went to.
    private func send(day: String, at: Date) async throws -> Int {
        var sent = 0
        for (index, person) in try await reader.peopleWithPendingRequests().enumerated() {
            try Task.checkCancellation()
            if index > 0, index.isMultiple(of: 50) {
                let renewed = try await pool.query(
                    """
                    UPDATE portal_digests SET claimed_until = now() + make_interval(secs => \(leaseSeconds))
                    WHERE day = \(day)::date AND claimed_by = \(instance) AND finished_at IS NULL
                    """
                ).affectedRows
                guard renewed == 1 else { throw DigestClaimLost(day: day) }
            }
            let waiting = try await reader.inbox(for: person, limit: 200)
            guard !waiting.isEmpty else { continue }
            let digest = DigestRequested(
                email: person, day: day, items: waiting.prefix(DigestRequested.maximumItems).map(Self.item), total: waiting.count,
                requestedAt: at, expiresAt: at.addingTimeInterval(12 * 3600))
            try await publisher.publish(digest, trace: .newTrace())
            sent += 1
        }
        return sent
    }

    /// The claim's length in seconds, to the millisecond.
    private var leaseSeconds: Double {
        Double(lease.components.seconds) + Double(lease.components.attoseconds) / 1e18
    }

    /// Another receiver took the day over while this one was still sending (its claim ran out): this one stops; the
    /// other sends everything again under the same ids, which the notifier keeps once.
    struct DigestClaimLost: Error, CustomStringConvertible {
        var day: String
        var description: String {
            "another callback receiver took over the digest of \(day) (this one's claim ran out): it stopped; nobody gets a second one"
        }
    }

    static func item(_ item: InboxItem) -> DigestRequested.Item {
        DigestRequested.Item(
            requestId: item.requestId, title: item.content.title, description: item.description, amount: item.amount,
            currency: item.currency, requester: item.requester, expiresAt: item.expiresAt,
            approvals: item.approvalsNeeded.map { _ in item.approvals }, needed: item.approvalsNeeded)
    }
}
