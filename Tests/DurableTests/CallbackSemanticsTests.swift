import DurableExecution
import Foundation
import GreenlightModels
import GreenlightTestSupport
import Testing

/// Callback semantics as Lambda durable functions define them, one test each, against real Postgres.
@Suite(.timeLimit(.minutes(1)))
struct CallbackSemanticsTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func successResumesTheWorkflowWithThePayloadAndTheStepDoesNotRunAgain() async throws {
        let harness = try await EngineHarness.make()
        try await harness.start("ok", .init(timeoutSeconds: 3600), at: t0)
        #expect(try await harness.execution("ok").status == "RUNNING")
        let id = try await harness.callbackId("ok")
        #expect(try await harness.send(.success(#"{"decision":"approved"}"#), to: id, at: t0 + 5) == .accepted)

        let execution = try await harness.execution("ok")
        #expect(execution.status == "SUCCEEDED")
        #expect(execution.output == #"{"decision":"approved"}"#)
        // Created, then a step, then the result awaited: the replay that resumed it did not run the step again.
        #expect(harness.runs.count("ok/after-create") == 1)
        let types = try await harness.history("ok").map(\.type)
        #expect(types == [
            "ExecutionStarted", "CallbackStarted", "StepStarted", "StepSucceeded", "InvocationCompleted",
            "CallbackSucceeded", "InvocationCompleted", "ExecutionSucceeded",
        ])
        let started = try #require(try await harness.history("ok").first { $0.type == "CallbackStarted" })
        #expect(started.details["CallbackId"] == .string(id.uuidString))
        #expect(started.details["Timeout"] == .number(3600))
        #expect(started.details["HeartbeatTimeout"] == .null)
        let found = try await DurableReader(pool: harness.pool).callback(id)
        #expect(found?.executionName == "ok")
        #expect(found?.record.status == .succeeded)
    }

    @Test func failureIsThrownInTheWorkflowAndUncaughtFailsTheExecution() async throws {
        let harness = try await EngineHarness.make()
        try await harness.start("fail", .init(timeoutSeconds: 3600), at: t0)
        let id = try await harness.callbackId("fail")
        let error = DurableError(errorType: "Approval.Denied", errorMessage: "budget exhausted")
        #expect(try await harness.send(.failure(error), to: id, at: t0 + 1) == .accepted)
        let execution = try await harness.execution("fail")
        #expect(execution.status == "FAILED")
        #expect(execution.errorType == "Approval.Denied")
        #expect(execution.errorMessage == "budget exhausted")
        let failed = try #require(try await harness.history("fail").first { $0.type == "CallbackFailed" })
        #expect(failed.details["Error"]?["ErrorType"] == .string("Approval.Denied"))
    }

    @Test func nothingWithinTheTimeoutTimesTheCallbackOut() async throws {
        let harness = try await EngineHarness.make()
        try await harness.start("late", .init(timeoutSeconds: 60), at: t0)
        #expect(try await harness.fire(at: t0 + 59).count == 0)
        #expect(try await harness.fire(at: t0 + 60).count == 1)
        let execution = try await harness.execution("late")
        #expect(execution.status == "FAILED")
        #expect(execution.errorType == "Callback.Timeout")
        let timedOut = try #require(try await harness.history("late").first { $0.type == "CallbackTimedOut" })
        #expect(timedOut.details["Error"]?["ErrorType"] == .string("Callback.Timeout"))
    }

    @Test func noHeartbeatWithinTheHeartbeatTimeoutTimesTheCallbackOut() async throws {
        let harness = try await EngineHarness.make()
        try await harness.start("quiet", .init(timeoutSeconds: 3600, heartbeatSeconds: 30), at: t0)
        #expect(try await harness.fire(at: t0 + 31).count == 1)
        let execution = try await harness.execution("quiet")
        #expect(execution.status == "FAILED")
        #expect(execution.errorType == "Callback.Heartbeat")
    }

    @Test func heartbeatsResetOnlyTheHeartbeatDeadlineAndSuccessStillWins() async throws {
        let harness = try await EngineHarness.make()
        try await harness.start("alive", .init(timeoutSeconds: 100, heartbeatSeconds: 10), at: t0)
        let id = try await harness.callbackId("alive")
        let historyBefore = try await harness.history("alive").count
        for second in [8.0, 16, 24, 32] {
            #expect(try await harness.send(.heartbeat, to: id, at: t0 + second) == .accepted)
            #expect(try await harness.fire(at: t0 + second + 9).count == 0)
        }
        // Heartbeats write no history and do not move the general timeout.
        #expect(try await harness.history("alive").count == historyBefore)
        let callback = try await harness.pool.withConnection { try await harness.engine.callback(id, on: $0) }
        #expect(callback?.timeoutAt == t0 + 100)
        #expect(callback?.heartbeatDueAt == t0 + 42)
        #expect(try await harness.send(.success("\"done\""), to: id, at: t0 + 40) == .accepted)
        #expect(try await harness.execution("alive").status == "SUCCEEDED")
    }

    @Test func anythingSentToAnEndedCallbackChangesNothingAndReturnsItsFinalState() async throws {
        let harness = try await EngineHarness.make()
        try await harness.start("ended", .init(timeoutSeconds: 3600), at: t0)
        let id = try await harness.callbackId("ended")
        _ = try await harness.send(.success("1"), to: id, at: t0 + 1)
        let historyCount = try await harness.history("ended").count
        for completion in [CallbackCompletion.success("2"), .failure(DurableError(errorType: "X", errorMessage: "y")), .heartbeat] {
            guard case .alreadyEnded(let final) = try await harness.send(completion, to: id, at: t0 + 2) else {
                Issue.record("\(completion) was not refused")
                continue
            }
            #expect(final.status == .succeeded)
            #expect(final.result == "1")
        }
        #expect(try await harness.history("ended").count == historyCount)
        #expect(try await harness.send(.success("3"), to: UUID(), at: t0 + 3) == .notFound)
    }

    @Test func signalsThatArriveBeforeTheExecutionAreKeptAndReceivedInArrivalOrder() async throws {
        let harness = try await EngineHarness.make()
        #expect(try await harness.signal("a", to: "early", at: t0) == .buffered)
        #expect(try await harness.signal("b", to: "early", at: t0) == .buffered)
        _ = try await harness.pool.transaction {
            try await harness.engine.start(
                SignalWorkflow(counter: harness.runs), name: "early", input: .init(count: 3), on: $0, now: t0 + 1)
        }
        #expect(try await harness.execution("early").status == "RUNNING")
        #expect(try await harness.signal("c", to: "early", at: t0 + 2) == .delivered)
        let execution = try await harness.execution("early")
        #expect(execution.status == "SUCCEEDED")
        #expect(execution.output == #"["a","b","c"]"#)
        // Each taken once, by a step; the kept ones are in the history as received before the start.
        #expect(["a", "b", "c"].map { harness.runs.count("early/\($0)") } == [1, 1, 1])
        let history = try await harness.history("early")
        #expect(history.filter { $0.type == "SignalReceived" }.count == 3)
        #expect(history.filter { $0.details["KeptUntilStart"] == .bool(true) }.count == 2)
        // After the end, the workflow's own handler takes a signal; nothing is kept.
        #expect(try await harness.signal("d", to: "early", at: t0 + 3) == .afterEnd(.succeeded))
        #expect(harness.runs.count("early/late/d") == 1)
        #expect(try await harness.pool.query("SELECT count(*) FROM durable_signals").column(Int.self) == [0])
    }

    @Test func anObservationIsTakenAsItArrivesWithoutAnInvocationAndNeverReceived() async throws {
        let harness = try await EngineHarness.make()
        _ = try await harness.pool.transaction {
            try await harness.engine.start(SignalWorkflow(counter: harness.runs), name: "watched", input: .init(count: 1), on: $0, now: t0)
        }
        let pages = { try await harness.pool.query("SELECT count(*) FROM durable_operation_pages").column(Int.self).first ?? -1 }
        let before = try await pages()
        let invocations = { try await harness.history("watched").filter { $0.type == "InvocationCompleted" }.count }
        #expect(try await invocations() == 1)

        #expect(try await harness.signal("note-1", to: "watched", at: t0 + 1) == .observed)
        #expect(harness.runs.count("watched/noted/note-1") == 1)
        // No replay and no checkpoint for it: the workflow did not run.
        #expect(try await invocations() == 1)
        #expect(try await pages() == before)
        #expect(try await harness.pool.query("SELECT count(*) FROM durable_signals").column(Int.self) == [0])

        // One that fails is rolled back and in the history; the execution goes on, and the event commits.
        #expect(try await harness.signal("note-fail", to: "watched", at: t0 + 2) == .observed)
        #expect(try await harness.execution("watched").status == "RUNNING")

        #expect(try await harness.signal("a", to: "watched", at: t0 + 3) == .delivered)
        let execution = try await harness.execution("watched")
        #expect(execution.status == "SUCCEEDED")
        #expect(execution.output == #"["a"]"#, "the observations were never received")
        let history = try await harness.history("watched").map { event -> String in
            if case .string(let note)? = event.details["Note"] { return "\(event.type):\(note)" }
            return event.type
        }
        let afterStart = Array(history.drop { $0 != "InvocationCompleted" }.dropFirst().prefix(3))
        #expect(afterStart == ["SignalReceived", "Noted:note-1", "SignalReceived"], "\(history)")
        let discarded = try #require(try await harness.history("watched").first { $0.type == "SignalDiscarded" })
        #expect(discarded.details["Signal"] != nil && discarded.details["Error"] != nil, "\(discarded.details)")
        #expect(!history.contains("Noted:note-fail"), "the failed observation's own writes were rolled back")
    }

    @Test func signalsLeftWhenTheWorkflowEndsGoToItsAfterEndHandler() async throws {
        let harness = try await EngineHarness.make()
        for name in ["x", "y", "z"] { #expect(try await harness.signal(name, to: "one", at: t0) == .buffered) }
        _ = try await harness.pool.transaction {
            try await harness.engine.start(SignalWorkflow(counter: harness.runs), name: "one", input: .init(count: 1), on: $0, now: t0 + 1)
        }
        #expect(try await harness.execution("one").output == #"["x"]"#)
        #expect(harness.runs.count("one/late/y") == 1)
        #expect(harness.runs.count("one/late/z") == 1)
        #expect(try await harness.pool.query("SELECT count(*) FROM durable_signals").column(Int.self) == [0])
    }

    @Test func aReceiveWithADeadlineEndsWhenItsTimerFiresAndASignalRetiresTheTimer() async throws {
        let harness = try await EngineHarness.make()
        let workflow = SignalWorkflow(counter: harness.runs)
        _ = try await harness.pool.transaction {
            try await harness.engine.start(workflow, name: "timed", input: .init(count: 1, deadlineSeconds: 10), on: $0, now: t0)
            try await harness.engine.start(workflow, name: "signalled", input: .init(count: 1, deadlineSeconds: 10), on: $0, now: t0)
        }
        #expect(try await harness.signal("s", to: "signalled", at: t0 + 5) == .delivered)
        #expect(try await harness.fire(at: t0 + 10).count == 1)
        #expect(try await harness.execution("timed").output == #"["time"]"#)
        #expect(try await harness.execution("signalled").output == #"["s"]"#)
    }

    @Test func aCallbackThatEndsWhileTheWorkflowIsBusyElsewhereSurfacesOnlyAtResult() async throws {
        let harness = try await EngineHarness.make()
        try await harness.start("busy", .init(timeoutSeconds: 3600, waitSeconds: 60), at: t0)
        let id = try await harness.callbackId("busy")
        let error = DurableError(errorType: "Upstream.Failed", errorMessage: "no")
        #expect(try await harness.send(.failure(error), to: id, at: t0 + 10) == .accepted)
        // Still waiting: the failure is deferred until the workflow asks for the result.
        #expect(try await harness.execution("busy").status == "RUNNING")
        #expect(try await harness.fire(at: t0 + 60).count == 1)
        let execution = try await harness.execution("busy")
        #expect(execution.status == "FAILED")
        #expect(execution.errorType == "Upstream.Failed")
        let types = try await harness.history("busy").map(\.type)
        #expect(types.contains("WaitStarted") && types.contains("WaitSucceeded"))
        #expect(harness.runs.count("busy/after-create") == 1)
    }

    @Test func waitForCallbackRunsTheLaterBranchWhenTheTimeRunsOutFirst() async throws {
        let harness = try await EngineHarness.make()
        try await harness.start("nudged", .init(timeoutSeconds: 3600, nudgeSeconds: 10), at: t0)
        #expect(try await harness.fire(at: t0 + 9).count == 0)
        #expect(try await harness.fire(at: t0 + 10).count == 1)
        #expect(harness.runs.count("nudged/nudge") == 1)
        #expect(try await harness.execution("nudged").status == "RUNNING")
        let id = try await harness.callbackId("nudged")
        #expect(try await harness.send(.success("1"), to: id, at: t0 + 20) == .accepted)
        #expect(try await harness.execution("nudged").status == "SUCCEEDED")
        // Replays after the timer took the same branch without running the step again.
        #expect(harness.runs.count("nudged/nudge") == 1)
    }

    @Test func waitForCallbackEndsAtOnceWhenTheCallbackEndsFirst() async throws {
        let harness = try await EngineHarness.make()
        try await harness.start("prompt", .init(timeoutSeconds: 3600, nudgeSeconds: 10), at: t0)
        let id = try await harness.callbackId("prompt")
        #expect(try await harness.send(.success("2"), to: id, at: t0 + 5) == .accepted)
        // Not held until the wait's timer: the execution finished with the callback.
        #expect(try await harness.execution("prompt").status == "SUCCEEDED")
        #expect(harness.runs.count("prompt/nudge") == 0)
        // The wait's timer was retired with it.
        #expect(try await harness.fire(at: t0 + 10).count == 0)
        let ended = try #require(try await harness.history("prompt").first { $0.type == "WaitSucceeded" })
        #expect(ended.details["EndedBy"] == .string("callback"))
    }
}
