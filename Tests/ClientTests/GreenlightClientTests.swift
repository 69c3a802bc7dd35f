import Foundation
import GreenlightClient
import GreenlightModels
import GreenlightTestSupport
import Testing

/// The Swift client's own behaviour: its key, typed errors with intake's problem, the repeated long-poll, its bound
/// and its cancellation.
@Suite(.timeLimit(.minutes(1)))
struct GreenlightClientTests {
    static func client(_ intake: FakeIntake, key: String? = FakeIntake.key) -> GreenlightClient {
        GreenlightClient(baseURL: intake.url + "/", apiKey: key)
    }

    @Test func submitAndStatusSendTheKeyAndDecodeTheAnswers() async throws {
        try await FakeIntake.with { intake in
            let client = Self.client(intake)
            let accepted = try await client.submit(ApprovalRequestBody(requestId: "deploy-1", amount: 1, description: "Deploy"))
            #expect(accepted.requestId == "deploy-1")
            #expect(accepted.statusUrl == "/v1/requests/deploy-1")
            let status = try await client.status("a:b.c_d-1")
            #expect(status.requestId == "a:b.c_d-1")
            #expect(status.status == .pending)
        }
    }

    @Test func refusalsAreTypedAndCarryIntakesProblem() async throws {
        try await FakeIntake.with { intake in
            let client = Self.client(intake)
            let invalid = await #expect(throws: GreenlightClientError.self) {
                try await client.submit(ApprovalRequestBody(requestId: "bad id", amount: 1, description: "x"))
            }
            #expect(invalid?.code == .invalidRequest)
            #expect(invalid?.status == 400)
            #expect(invalid?.problem?.errors?.first?.field == "requestId")
            #expect(invalid?.description.contains("requestId: must be letters") == true)

            let unauthorised = await #expect(throws: GreenlightClientError.self) {
                try await Self.client(intake, key: nil).status("x")
            }
            #expect(unauthorised?.code == .unauthorized)
            #expect(unauthorised?.problem?.detail == "This call needs an API key")

            let missing = await #expect(throws: GreenlightClientError.self) { try await client.status("missing") }
            #expect(missing?.code == .notFound)
            #expect(missing?.endpoint == .status)

            let unavailable = await #expect(throws: GreenlightClientError.self) {
                try await client.waitForOutcome("unavailable", timeout: .seconds(5))
            }
            #expect(unavailable?.code == .unavailable)
            #expect(unavailable?.description.contains("retry shortly") == true)

            let unreachable = await #expect(throws: GreenlightClientError.self) {
                // A port nothing listens on: refused, and retried until the call's timeout.
                try await GreenlightClient(baseURL: "http://127.0.0.1:\(try freePort())", apiKey: nil, requestTimeout: .seconds(2))
                    .status("x")
            }
            #expect(unreachable?.code == .unreachable)
            #expect(unreachable?.status == nil)
        }
    }

    @Test func waitingRepeatsTheLongPollUntilTheRequestEnds() async throws {
        try await FakeIntake.with { intake in
            let outcome = try await Self.client(intake).waitForOutcome("decided-on-third", timeout: .seconds(30))
            #expect(outcome.status == .approved)
            // Each poll asks for the rest of the wait (bounded by intake's 60 s): the whole 30 s first, then no more
            // than what is left (how much less depends on how long each answer took).
            let polls = intake.outcomePolls
            #expect(polls.count == 3)
            #expect(polls.first == "decided-on-third wait=30")
            let waits = polls.compactMap { $0.split(separator: "=").last.flatMap { Int($0) } }
            #expect(waits.count == 3 && waits == waits.sorted(by: >=) && waits.allSatisfy { $0 <= 30 && $0 > 20 }, "\(polls)")
        }
    }

    @Test func aRequestNotRecordedYetIsWaitedForButAnUnknownOneIsNotFound() async throws {
        try await FakeIntake.with { intake in
            let client = Self.client(intake)
            let outcome = try await client.waitForOutcome("recorded-later", timeout: .seconds(30))
            #expect(outcome.status == .approved)
            #expect(intake.outcomePolls.filter { $0.hasPrefix("recorded-later ") }.count == 3)

            let started = ContinuousClock.now
            let missing = await #expect(throws: GreenlightClientError.self) {
                try await client.waitForOutcome("missing", timeout: .seconds(1))
            }
            #expect(missing?.code == .notFound)
            #expect(ContinuousClock.now - started < .seconds(5))
            let once = await #expect(throws: GreenlightClientError.self) { try await client.outcome("missing", wait: .zero) }
            #expect(once?.code == .notFound)
        }
    }

    @Test func waitingPastTheTimeoutReturnsThePendingState() async throws {
        try await FakeIntake.with { intake in
            let started = ContinuousClock.now
            let state = try await Self.client(intake).waitForOutcome("undecided", timeout: .milliseconds(1500))
            let waited = ContinuousClock.now - started
            #expect(state.status == .pending)
            #expect(waited >= .milliseconds(1500) && waited < .seconds(10), "\(waited)")
            // Rounded up, never down: a wait does not end early.
            #expect(intake.outcomePolls == ["undecided wait=2"])

            let long = try await Self.client(intake).outcome("long", wait: .seconds(1))
            #expect(long.status == .pending)
            #expect(intake.outcomePolls.last == "long wait=1")
        }
    }

    @Test func cancellingTheTaskEndsTheWaitAtOnce() async throws {
        try await FakeIntake.with { intake in
            let client = Self.client(intake)
            let waiting = Task { try await client.waitForOutcome("undecided", timeout: .seconds(300)) }
            // Cancelled while inside the long-poll (which intake holds for 60 s).
            try await waitUntil(timeout: .seconds(10)) { intake.outcomePolls == ["undecided wait=60"] }
            let cancelled = ContinuousClock.now
            waiting.cancel()
            let result = await waiting.result
            #expect(ContinuousClock.now - cancelled < .seconds(5))
            #expect(throws: CancellationError.self) { try result.get() }
        }
    }
}
