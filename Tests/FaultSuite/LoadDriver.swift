import Foundation
import GreenlightModels
import GreenlightTestSupport
import Kafka
import Logging
import Synchronization

/// What a request of the load is meant to end as, and how it gets there.
enum RequestKind: String, Sendable, CaseIterable {
    /// Its approver opens the emailed link and presses Approve (retrying while the service answers 503).
    case link
    /// Another system rejects it on `approvals.decisions` as soon as it is accepted.
    case kafka
    /// Nobody decides: its deadline rejects it.
    case timeout

    var expected: ApprovalStatus {
        switch self {
        case .link: .approved
        case .kafka: .rejected
        case .timeout: .timedOut
        }
    }
}

/// Drives a running stack as its users would, through its public interfaces only: submits requests over HTTP
/// (retrying with the same requestId until one is accepted, as a careful client does), approves by link when the
/// email arrives, rejects on Kafka, or lets the deadline pass. Keeps what was accepted, for the invariant checker.
final class LoadDriver: Sendable {
    let stack: ServiceStack
    let producer: KafkaProducer
    let prefix: String
    /// Deadline of the requests that are decided (long: they must be decided, whatever the fault) and of those
    /// left to time out.
    let decidedTimeout: Int
    let timeoutTimeout: Int
    private let state = Mutex(State())
    private let logger: Logger

    struct State {
        var accepted: [String: (kind: RequestKind, at: ContinuousClock.Instant)] = [:]
        var clicked: Set<String> = []
        var refusedSubmissions = 0
        var clickAnswers: [Int: Int] = [:]
    }

    init(stack: ServiceStack, prefix: String, decidedTimeout: Int, timeoutTimeout: Int, logger: Logger) throws {
        self.stack = stack
        self.prefix = prefix
        self.decidedTimeout = decidedTimeout
        self.timeoutTimeout = timeoutTimeout
        self.logger = logger
        producer = try KafkaProducer(
            configuration: KafkaConfiguration(bootstrapServers: stack.cluster.bootstrapServers), logger: logger)
    }

    var accepted: [String: RequestKind] { state.withLock { $0.accepted.mapValues(\.kind) } }
    var refusedSubmissions: Int { state.withLock { $0.refusedSubmissions } }
    var clickAnswers: [Int: Int] { state.withLock { $0.clickAnswers } }

    static func kind(of index: Int) -> RequestKind {
        switch index % 10 {
        case 0..<4: .link
        case 4..<7: .kafka
        default: .timeout
        }
    }

    /// Submits `count` requests evenly over `duration`, each acted on as its kind says; returns when every one has
    /// been accepted (or given up on after `giveUpAfter`).
    func run(count: Int, over duration: Duration, giveUpAfter: Duration = .seconds(180)) async {
        let interval = duration / max(1, count)
        await withTaskGroup(of: Void.self) { group in
            let started = ContinuousClock.now
            for index in 0..<count {
                let due = started + interval * index
                if due > .now { try? await Task.sleep(until: due) }
                let id = "\(prefix)-\(index)"
                let kind = Self.kind(of: index)
                group.addTask { await self.request(id, kind: kind, giveUpAfter: giveUpAfter) }
            }
        }
    }

    /// One request, from submission to the action its kind calls for.
    func request(_ id: String, kind: RequestKind, approver: String? = nil, giveUpAfter: Duration) async {
        let approver = approver ?? "\(id.lowercased())@example.com"
        let timeout = kind == .timeout ? timeoutTimeout : decidedTimeout
        let body = #"{"requestId": "\#(id)", "amount": 1, "description": "Fault suite", "approvers": ["\#(approver)"], "timeoutSeconds": \#(timeout)}"#
        guard await submit(id, body: body, kind: kind, giveUpAfter: giveUpAfter) else { return }
        switch kind {
        case .kafka: await decide(id, .reject, giveUpAfter: giveUpAfter)
        case .link: await clickWhenEmailed(id, giveUpAfter: giveUpAfter)
        case .timeout: break
        }
    }

    /// POSTs until intake answers 2xx; false when it never did.
    func submit(_ id: String, body: String, kind: RequestKind, giveUpAfter: Duration) async -> Bool {
        let deadline = ContinuousClock.now + giveUpAfter
        while ContinuousClock.now < deadline {
            if let response = try? await stack.submit(body), (200..<300).contains(response.status) {
                state.withLock { $0.accepted[id] = (kind, .now) }
                return true
            }
            state.withLock { $0.refusedSubmissions += 1 }
            try? await Task.sleep(for: .seconds(1))
        }
        logger.error("Never accepted", metadata: ["requestId": "\(id)"])
        return false
    }

    /// Publishes a decision on Kafka, as another system would, retrying while the broker is away.
    func decide(_ id: String, _ decision: Decision, giveUpAfter: Duration) async {
        let event = DecisionSubmitted(
            requestId: id, decision: decision, decidedBy: "system@example.com", channel: .kafka, comment: nil,
            decidedAt: Date(), tokenHash: nil)
        let deadline = ContinuousClock.now + giveUpAfter
        while ContinuousClock.now < deadline {
            do {
                try await producer.send(
                    topic: Topic.decisions.rawValue, key: id, value: Array(try GreenlightJSON.encode(event)), deadline: .seconds(5))
                return
            } catch {
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Waits for the request's email, then opens the link and presses Approve, as a person would: again later when
    /// the page says the service is unavailable.
    func clickWhenEmailed(_ id: String, giveUpAfter: Duration) async {
        let deadline = ContinuousClock.now + giveUpAfter
        while ContinuousClock.now < deadline {
            guard let link = stack.mails(forRequest: id).first?.links.first(where: { $0.contains("/approve/") }) else {
                try? await Task.sleep(for: .milliseconds(250))
                continue
            }
            let status = (try? await HTTP.clickThrough(link))?.status ?? 0
            state.withLock { $0.clickAnswers[status, default: 0] += 1 }
            // 200 decided, 202 kept until the broker is back, 409 already decided (a click that did go through).
            if [200, 202, 409].contains(status) {
                state.withLock { _ = $0.clicked.insert(id) }
                return
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// How long a new request takes end to end right now: submitted, approved on Kafka at once, its outcome seen.
    func probe(_ label: String, giveUpAfter: Duration = .seconds(120)) async -> Duration? {
        let id = "\(prefix)-probe-\(label)"
        let started = ContinuousClock.now
        await request(id, kind: .kafka, approver: "probe@example.com", giveUpAfter: giveUpAfter)
        guard (try? await stack.outcomes.waitFor(id, timeout: giveUpAfter)) != nil else { return nil }
        return ContinuousClock.now - started
    }

    /// How long until a new request's email arrives right now.
    func emailProbe(_ label: String, giveUpAfter: Duration = .seconds(120)) async -> Duration? {
        let id = "\(prefix)-mail-probe-\(label)"
        let started = ContinuousClock.now
        await request(id, kind: .kafka, approver: "probe-\(label.lowercased())@example.com", giveUpAfter: giveUpAfter)
        guard (try? await stack.waitForMail(forRequest: id, timeout: giveUpAfter)) != nil else { return nil }
        return ContinuousClock.now - started
    }

    func shutdown() async {
        await producer.shutdown(timeout: .seconds(5))
    }
}
