import ApprovalStore
import Callbacks
import Foundation
import GreenlightModels
import GreenlightTestSupport
import Postgres
import ServiceSupport
import Testing

/// The daily digest against a real Postgres: from its hour on, once a UTC day, each person something waits on gets one
/// `DigestRequested` listing it (nearest deadline first, with the policy's progress), and nobody else; a second run,
/// or a second receiver, sends nothing more; a run that died half-way is taken over once its claim runs out, with the
/// same event ids (which the notifier keeps once).
struct DigestSchedulerTests {
    struct Fixture {
        let pool: PostgresPool
        let publisher = RecordingPublisher()

        init() async throws {
            let database = try await TestDatabase.create("digest")
            pool = try database.pool()
            let logger = TestEnvironment.logger("digest")
            try await GreenlightDatabase.migrate(pool, logger: logger)
            try await PortalSchema.prepare(pool, logger: logger)
        }

        func scheduler(hour: Int, instance: String = "one", lease: Duration = .seconds(1800)) -> DigestScheduler {
            DigestScheduler(
                pool: pool, publisher: publisher, hour: hour, instance: instance, lease: lease, logger: TestEnvironment.logger("digest"))
        }

        func request(_ id: String, approvers: [String], policy: ApprovalPolicy = .any, expiresIn: TimeInterval, title: String? = nil)
            async throws
        {
            var request = ApprovalRequested(
                requestId: id, amount: 120, currency: "EUR", description: "About \(id)", requester: "it@example.com",
                approvers: approvers, timeoutSeconds: Int(expiresIn), policy: policy, submittedAt: Date())
            request.content.title = title
            _ = try await pool.transaction { connection in
                try await ApprovalWriter(connection).insertRequest(
                    request, executionId: UUID(), callbackId: UUID(), expiresAt: Date().addingTimeInterval(expiresIn))
            }
        }

        var digests: [DigestRequested] { publisher.published(DigestRequested.self) }
    }

    /// The current UTC hour and minute, by the database's clock.
    static func hourNow(_ pool: PostgresPool) async throws -> (hour: Int, minute: Int) {
        let row = try await pool.query(
            "SELECT extract(hour FROM now() AT TIME ZONE 'UTC')::int, extract(minute FROM now() AT TIME ZONE 'UTC')::int"
        ).decode((Int, Int).self)[0]
        return (row.0, row.1)
    }

    @Test func eachPersonGetsOneDigestOfWhatWaitsOnThemFromTheHourOn() async throws {
        let fixture = try await Fixture()
        try await fixture.request("REQ-LATE", approvers: ["A@example.com"], expiresIn: 7200, title: "Laptop")
        try await fixture.request("REQ-SOON", approvers: ["a@example.com", "b@example.com"], policy: .all, expiresIn: 600)
        try await fixture.request("REQ-B", approvers: ["b@example.com"], expiresIn: 3600)
        try await fixture.request("REQ-GONE", approvers: ["c@example.com"], expiresIn: -60)
        // b has voted on REQ-SOON: it no longer waits on b, and a sees the progress.
        try await fixture.pool.transaction { connection in
            ApprovalWriter(connection).queueVote(
                requestId: "REQ-SOON",
                ApprovalVote(approver: "b@example.com", decision: .approve, channel: .link, comment: nil, decidedAt: Date()))
            try await connection.flush()
        }

        // Before the hour: nothing (not tried in the last minute of an hour, which would turn while it runs).
        let now = try await Self.hourNow(fixture.pool)
        if now.hour < 23, now.minute < 59 { #expect(try await fixture.scheduler(hour: now.hour + 1).runIfDue() == nil) }
        #expect(fixture.digests.isEmpty)

        #expect(try await fixture.scheduler(hour: 0).runIfDue() == 2)
        let byPerson = Dictionary(uniqueKeysWithValues: fixture.digests.map { ($0.email, $0) })
        #expect(byPerson.keys.sorted() == ["a@example.com", "b@example.com"])
        let a = try #require(byPerson["a@example.com"])
        #expect(a.items.map(\.requestId) == ["REQ-SOON", "REQ-LATE"], "nearest deadline first")
        #expect(a.total == 2 && a.items[0].approvals == 1 && a.items[0].needed == 2 && a.items[1].needed == nil)
        #expect(a.items[1].title == "Laptop" && a.items[1].amount == 120 && a.items[1].requester == "it@example.com")
        #expect(byPerson["b@example.com"]?.items.map(\.requestId) == ["REQ-B"])
        #expect(a.eventId == DigestRequested.eventId(day: a.day, email: "a@example.com"))
        #expect(a.expiresAt > a.requestedAt)

        // Done for the day: the same receiver or another sends nothing more.
        #expect(try await fixture.scheduler(hour: 0).runIfDue() == nil)
        #expect(try await fixture.scheduler(hour: 0, instance: "two").runIfDue() == nil)
        #expect(fixture.digests.count == 2)
        #expect(
            try await fixture.pool.query("SELECT recipients, finished_at IS NOT NULL FROM portal_digests").decode((Int, Bool).self)
                .map { [$0.0, $0.1 ? 1 : 0] } == [[2, 1]])
    }

    @Test func aRunThatDiedIsTakenOverOnceItsClaimRunsOutWithTheSameIds() async throws {
        let fixture = try await Fixture()
        try await fixture.request("REQ-1", approvers: ["a@example.com"], expiresIn: 3600)
        // A receiver claimed the day and died before finishing (its claim still holds: nobody else runs it).
        try await fixture.pool.query(
            """
            INSERT INTO portal_digests (day, claimed_by, claimed_until)
            VALUES ((now() AT TIME ZONE 'UTC')::date, 'dead', now() + interval '1 hour')
            """)
        #expect(try await fixture.scheduler(hour: 0, instance: "two").runIfDue() == nil)
        // Its claim runs out: the day is taken over and sent, under the id the dead one would have used.
        try await fixture.pool.query("UPDATE portal_digests SET claimed_until = now() - interval '1 second'")
        #expect(try await fixture.scheduler(hour: 0, instance: "two").runIfDue() == 1)
        let digest = try #require(fixture.digests.first)
        #expect(digest.eventId == DigestRequested.eventId(day: digest.day, email: "a@example.com"))
        #expect(try await fixture.pool.query("SELECT claimed_by FROM portal_digests").column(String.self) == ["two"])
    }

    @Test func aRunThatFailsGivesTheDayUpAtOnce() async throws {
        let fixture = try await Fixture()
        try await fixture.request("REQ-1", approvers: ["a@example.com"], expiresIn: 3600)
        let failing = DigestScheduler(
            pool: fixture.pool, publisher: UnreachablePublisher(), hour: 0, instance: "one", logger: TestEnvironment.logger("digest"))
        await #expect(throws: UnreachablePublisher.Refused.self) { try await failing.runIfDue() }
        // Not held for the claim's 30 minutes: another receiver sends it at once.
        #expect(try await fixture.scheduler(hour: 0, instance: "two").runIfDue() == 1)
        #expect(fixture.digests.map(\.email) == ["a@example.com"])
    }

    /// A publisher that can never publish (the broker and the outbox both away).
    struct UnreachablePublisher: EventPublishing {
        struct Refused: Error {}
        func publish<Event: GreenlightEvent>(_ event: Event, trace: TraceContext) async throws -> Publication { throw Refused() }
    }

    @Test func theSettingNeedsAnHourAndTheInbox() throws {
        func problems(_ environment: [String: String]) -> String {
            var reader = EnvironmentReader(environment)
            _ = PortalSettings.read(&reader)
            do {
                try reader.validate()
                return ""
            } catch {
                return "\(error)"
            }
        }
        let secret = ["GREENLIGHT_LINK_SECRET": "portal-test-secret-0123456789abcdef0123"]
        var withHour = secret
        withHour["GREENLIGHT_DIGEST_HOUR"] = "7"
        var reader = EnvironmentReader(withHour)
        #expect(PortalSettings.read(&reader).digestHour == 7)
        #expect(problems(secret.merging(["GREENLIGHT_DIGEST_HOUR": "24"]) { $1 }).contains("GREENLIGHT_DIGEST_HOUR must be an hour from 0 to 23"))
        #expect(problems(["GREENLIGHT_DIGEST_HOUR": "7"]).contains("GREENLIGHT_DIGEST_HOUR needs GREENLIGHT_LINK_SECRET"))
        reader = EnvironmentReader(secret)
        #expect(PortalSettings.read(&reader).digestHour == nil)
    }
}
