import AsyncHTTPClient
import Foundation
import GreenlightModels
import Histogram
import Kafka
import ServiceSupport
import Logging
import MailSink
import NIOCore
import Synchronization

/// What to run.
public struct LoadOptions: Sendable {
    public enum Mode: String, Sendable, CaseIterable {
        /// Requests that are decided by clicking the emailed link (GET, then the form's POST).
        case approvals
        /// Requests with a short deadline and no clicks: each must end timed out, and the lateness is measured.
        case timeouts
    }

    public var intakeURL: String
    public var brokers: String
    /// The port of the SMTP server the load generator runs (point the notifier's GREENLIGHT_SMTP_URL at it).
    public var smtpPort: Int
    public var requests: Int
    /// Requests submitted per second (open loop); nil submits with `concurrency` requests in flight (closed loop).
    public var rate: Double?
    public var concurrency: Int
    /// The share of approvals among the clicks, 0...1 (the rest reject).
    public var approveShare: Double
    public var mode: Mode
    /// Timeouts mode: seconds from the start of the run to every request's deadline.
    public var deadlineSeconds: Int
    /// How long to wait for the last outcomes once everything is submitted.
    public var waitSeconds: Int
    /// Service processes whose resident memory is reported at the end, by name.
    public var services: [String: Int32]
    /// Request ids are `<prefix>-<n>`.
    public var prefix: String
    /// The outcome consumer's `fetch.wait.max.ms`.
    public var fetchWaitMs: Int
    /// The secret of an intake API key with the `submit` and `read` scopes; nil when intake is open.
    public var apiKey: String?
    /// Where to write each request's timeline (CSV, one row per request), to see when the slow ones happened.
    public var timelinePath: String?

    public init(
        intakeURL: String, brokers: String, fetchWaitMs: Int = 50, smtpPort: Int, requests: Int, rate: Double?, concurrency: Int,
        approveShare: Double, mode: Mode, deadlineSeconds: Int, waitSeconds: Int, services: [String: Int32], prefix: String,
        apiKey: String? = nil, timelinePath: String? = nil
    ) {
        self.apiKey = apiKey
        self.timelinePath = timelinePath
        self.intakeURL = intakeURL
        self.brokers = brokers
        self.fetchWaitMs = fetchWaitMs
        self.smtpPort = smtpPort
        self.requests = requests
        self.rate = rate
        self.concurrency = concurrency
        self.approveShare = approveShare
        self.mode = mode
        self.deadlineSeconds = deadlineSeconds
        self.waitSeconds = waitSeconds
        self.services = services
        self.prefix = prefix
    }
}

/// Drives a running stack through its public interfaces only, as users would: HTTP submissions, real SMTP
/// deliveries to its own server, clicks on the emailed links, and the outcomes on Kafka. It checks as it
/// measures: every request must end with exactly one outcome of the expected kind.
public final class LoadGenerator: Sendable {
    struct Entry {
        var index: Int
        var submitted: ContinuousClock.Instant?
        var accepted = false
        var emailed: ContinuousClock.Instant?
        var clicked: ContinuousClock.Instant?
        /// The same moment on the wall clock, which the services' timestamps are compared with.
        var clickedAt: Date?
        var expected: ApprovalStatus
        var outcomes = 0
        var wrongKind = false
        var completedAt: Date?
        /// When intake answered, the click's page answered, the outcome was written to Kafka and read here.
        var answered: ContinuousClock.Instant?
        var clickAnswered: ContinuousClock.Instant?
        var writtenAt: Date?
        var received: ContinuousClock.Instant?
        /// Timeouts mode: the deadline the request was given (its `expiresAt`), as its status reports it.
        var expiresAt: Date?
    }

    final class State: Sendable {
        let entries = Mutex<[String: Entry]>([:])
        let histograms = Mutex<[String: Histogram<UInt64>]>([:])
        let errors = Mutex<[String: Int]>([:])
        let outcomesSeen = Atomic<Int>(0)

        func record(_ name: String, _ duration: Duration) {
            let micros = max(0, duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000)
            histograms.withLock { all in
                var histogram = all[name] ?? Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
                _ = histogram.record(UInt64(micros))
                all[name] = histogram
            }
        }

        func error(_ kind: String) {
            errors.withLock { $0[kind, default: 0] += 1 }
        }
    }

    let options: LoadOptions
    let state = State()
    let http: HTTPClient
    let logger: Logger

    public init(options: LoadOptions, logger: Logger) {
        self.options = options
        self.logger = logger
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(8, options.concurrency)
        configuration.timeout.connect = .seconds(10)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func requestId(_ index: Int) -> String { "\(options.prefix)-\(index)" }

    func expected(_ index: Int) -> ApprovalStatus {
        guard options.mode == .approvals else { return .timedOut }
        // 37 is coprime with 100: every 100 consecutive requests hold the share exactly, spread out.
        return Double((index * 37) % 100) < options.approveShare * 100 ? .approved : .rejected
    }

    public func run() async throws -> LoadReport {
        state.entries.withLock { entries in
            for index in 0..<options.requests {
                entries[requestId(index)] = Entry(index: index, expected: expected(index))
            }
        }
        let (mails, mailInput) = AsyncStream.makeStream(of: ReceivedMail.self)
        let sink = try await SMTPSink.start(port: options.smtpPort, onMessage: { mailInput.yield($0) })
        let outcomes = try await startOutcomeConsumer()
        let start = ContinuousClock.now
        let wallStart = Date()

        let clicker = Task { await self.click(mails) }
        try await submitAll(wallStart: wallStart)
        let submitted = ContinuousClock.now
        // Wait for the outcomes (bounded).
        let deadline = submitted + .seconds(options.waitSeconds + (options.mode == .timeouts ? options.deadlineSeconds : 0))
        while state.outcomesSeen.load(ordering: .relaxed) < acceptedCount(), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        let finished = ContinuousClock.now
        // A moment more, so that a duplicate delivered just after the last outcome is still seen.
        try await Task.sleep(for: .milliseconds(500))
        mailInput.finish()
        await clicker.value
        await outcomes.consumer.close()
        outcomes.task.cancel()
        await sink.shutdown()
        if options.mode == .timeouts { await measureTimerLateness() }
        try await http.shutdown()
        if let path = options.timelinePath { try writeTimeline(to: path, start: start, wallStart: wallStart) }
        return report(submitSeconds: seconds(submitted - start), totalSeconds: seconds(finished - start))
    }

    func acceptedCount() -> Int { state.entries.withLock { $0.values.filter(\.accepted).count } }

    func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    // MARK: - Submitting

    func submitAll(wallStart: Date) async throws {
        if let rate = options.rate {
            // Open loop: request i leaves at start + i / rate, whatever the answers do.
            let start = ContinuousClock.now
            await withTaskGroup(of: Void.self) { group in
                for index in 0..<options.requests {
                    let due = start + .seconds(Double(index) / rate)
                    if ContinuousClock.now < due { try? await Task.sleep(until: due) }
                    group.addTask { await self.submit(index, wallStart: wallStart) }
                }
            }
        } else {
            let next = NextIndex()
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<options.concurrency {
                    group.addTask {
                        while true {
                            let index = next.take()
                            guard index < self.options.requests else { return }
                            await self.submit(index, wallStart: wallStart)
                        }
                    }
                }
            }
        }
    }

    /// Hands out request indexes to the closed-loop workers.
    final class NextIndex: Sendable {
        private let next = Atomic<Int>(0)
        func take() -> Int { next.wrappingAdd(1, ordering: .relaxed).oldValue }
    }

    func submit(_ index: Int, wallStart: Date) async {
        let id = requestId(index)
        var timeout = 3600
        if options.mode == .timeouts {
            // Every deadline asked for in the same second, wallStart + deadlineSeconds; the workflow counts it from its
            // start, so it falls due that much later than asked as the request is started late (`DeadlineSpread`).
            timeout = max(1, Int((wallStart.addingTimeInterval(TimeInterval(options.deadlineSeconds)).timeIntervalSinceNow).rounded()))
        }
        let body = #"{"requestId":"\#(id)","amount":\#(100 + index),"description":"Load test request \#(index)","approvers":["load-\#(index % 50)@example.com"],"timeoutSeconds":\#(timeout)}"#
        var request = HTTPClientRequest(url: options.intakeURL + "/v1/requests")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let key = options.apiKey { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        request.body = .bytes(ByteBuffer(string: body))
        let started = ContinuousClock.now
        state.entries.withLock { $0[id]?.submitted = started }
        do {
            let response = try await http.execute(request, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 64 * 1024)
            let answered = ContinuousClock.now
            state.record("intake POST", answered - started)
            state.entries.withLock { $0[id]?.answered = answered }
            if response.status.code == 202 {
                state.entries.withLock { $0[id]?.accepted = true }
            } else {
                state.error("intake \(response.status.code)")
            }
        } catch {
            state.error("intake unreachable")
        }
    }

    // MARK: - Emails and clicks

    func click(_ mails: AsyncStream<ReceivedMail>) async {
        await withTaskGroup(of: Void.self) { group in
            var inFlight = 0
            for await mail in mails {
                let arrived = ContinuousClock.now
                let parsed = mail.parsed
                // A receipt (what became of a click whose page could not say in time) is not a request's email.
                if parsed.header("X-Greenlight-Kind") == "receipt" {
                    state.error("receipt emailed (a click's page had no verdict in time)")
                    continue
                }
                guard let id = parsed.header("X-Greenlight-Request-Id") else {
                    state.error("email without request id")
                    continue
                }
                let submitted = state.entries.withLock { entries -> ContinuousClock.Instant? in
                    entries[id]?.emailed = arrived
                    return entries[id]?.submitted
                }
                guard let submitted else { continue }  // not ours (another run's request)
                state.record("request → email", arrived - submitted)
                guard options.mode == .approvals, let expected = state.entries.withLock({ $0[id]?.expected }) else { continue }
                let path = expected == .approved ? "/approve/" : "/reject/"
                guard let link = parsed.links.first(where: { $0.contains(path) }) else {
                    state.error("email without link")
                    continue
                }
                if inFlight >= max(8, options.concurrency) {
                    await group.next()
                    inFlight -= 1
                }
                inFlight += 1
                group.addTask { await self.clickThrough(link, id: id, approve: expected == .approved) }
            }
        }
    }

    /// GET the page, read its token-bound field, POST the form: what a person's browser does — again, a moment
    /// later, when a page says the service is unavailable for now (503; counted as such, up to five tries).
    func clickThrough(_ link: String, id: String, approve: Bool) async {
        for attempt in 1...5 {
            guard await clickOnce(link, id: id, approve: approve, lastTry: attempt == 5) else { return }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// One try; true when the page answered 503 and the click should be tried again.
    func clickOnce(_ link: String, id: String, approve: Bool, lastTry: Bool) async -> Bool {
        do {
            let page = try await http.execute(HTTPClientRequest(url: link), timeout: .seconds(30))
            let html = String(buffer: try await page.body.collect(upTo: 1 << 20))
            if page.status.code == 503, !lastTry {
                state.error("review page 503, tried again")
                return true
            }
            guard page.status.code == 200, let confirm = Self.confirmField(in: html) else {
                state.error("review page \(page.status.code)")
                return false
            }
            var post = HTTPClientRequest(url: link)
            post.method = .POST
            post.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            post.headers.add(name: "User-Agent", value: "greenlight-loadgen")
            post.body = .bytes(ByteBuffer(string: "decision=\(approve ? "approve" : "reject")&confirm=\(confirm)"))
            let clicked = ContinuousClock.now
            let clickedAt = Date()
            state.entries.withLock {
                $0[id]?.clicked = clicked
                $0[id]?.clickedAt = clickedAt
            }
            let result = try await http.execute(post, timeout: .seconds(30))
            _ = try await result.body.collect(upTo: 1 << 20)
            if result.status.code == 503, !lastTry {
                state.error("click 503, tried again")
                return true
            }
            let clickAnswered = ContinuousClock.now
            state.record("click POST", clickAnswered - clicked)
            state.entries.withLock { $0[id]?.clickAnswered = clickAnswered }
            switch result.status.code {
            case 200: break
            case 202: state.error("click 202 (received; the verdict came after the page's wait)")
            default: state.error("click \(result.status.code)")
            }
        } catch {
            state.error("callbacks unreachable")
        }
        return false
    }

    static func confirmField(in html: String) -> String? {
        guard let start = html.range(of: #"name="confirm" value=""#) else { return nil }
        let rest = html[start.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }

    // MARK: - Outcomes

    struct OutcomeConsumer {
        let consumer: KafkaConsumer
        let task: Task<Void, Never>
    }

    func startOutcomeConsumer() async throws -> OutcomeConsumer {
        let configuration = KafkaConfiguration(
            bootstrapServers: options.brokers, clientId: "greenlight-loadgen",
            properties: ["fetch.wait.max.ms": String(options.fetchWaitMs)]
                .merging(try KafkaClientSettings.fromEnvironment()) { _, set in set })
        // The group is new and starts where the topic ends now, so earlier runs' outcomes are never fetched: read and
        // skipped from the start of the topic, 20,000 of them held this run's first outcomes back by over a second.
        let group = "greenlight-loadgen-\(UUID().uuidString)"
        try await KafkaTopicReader.startGroupAtEnd(
            group, topics: [Topic.outcomes.rawValue], configuration: configuration, logger: logger)
        let consumer = try KafkaConsumer(
            configuration: configuration, groupId: group, topics: [Topic.outcomes.rawValue], logger: logger)
        // Wait until the group has given this consumer its partitions before submitting anything.
        let deadline = ContinuousClock.now + .seconds(60)
        while (try? await consumer.assignment().isEmpty) != false {
            guard ContinuousClock.now < deadline else { throw KafkaError(.consumerFailed, "the outcome consumer got no partitions within 60 s") }
            try await Task.sleep(for: .milliseconds(100))
        }
        let state = self.state
        let task = Task {
            do {
                for try await message in consumer.messages {
                    let received = ContinuousClock.now
                    let receivedAt = Date()
                    guard let outcome = try? GreenlightJSON.decode(ApprovalCompleted.self, from: Data(message.value))
                    else { continue }
                    // nil: another run's request, or a duplicate (counted, not measured).
                    let first = state.entries.withLock { entries -> Entry? in
                        guard var entry = entries[outcome.requestId] else { return nil }
                        entry.outcomes += 1
                        defer { entries[outcome.requestId] = entry }
                        guard entry.outcomes == 1 else { return nil }
                        entry.completedAt = outcome.completedAt
                        entry.received = received
                        entry.writtenAt = message.timestampMilliseconds.map { Date(timeIntervalSince1970: Double($0) / 1000) }
                        if outcome.status != entry.expected { entry.wrongKind = true }
                        return entry
                    }
                    guard let first else { continue }
                    state.outcomesSeen.add(1, ordering: .relaxed)
                    guard let clicked = first.clicked, let clickedAt = first.clickedAt else { continue }
                    state.record("click → outcome", received - clicked)
                    // Where that time went, by the services' own timestamps: until the orchestrator decided (the
                    // outcome's completedAt), until the outbox relay handed the outcome to Kafka (the message's
                    // CreateTime, whole milliseconds), and until this consumer had it. These compare wall clocks of
                    // different processes, so they mean something only when all run on one host (as scripts/bench
                    // does); a part that comes out negative is recorded as zero.
                    state.record("click → decided", .seconds(outcome.completedAt.timeIntervalSince(clickedAt)))
                    if let written = message.timestampMilliseconds {
                        let writtenAt = Date(timeIntervalSince1970: Double(written) / 1000)
                        state.record("decided → outcome written", .seconds(writtenAt.timeIntervalSince(outcome.completedAt)))
                        state.record("outcome written → read", .seconds(receivedAt.timeIntervalSince(writtenAt)))
                    }
                }
            } catch {}
        }
        return OutcomeConsumer(consumer: consumer, task: task)
    }

    /// Timeouts mode: how late each deadline fired — the outcome's `completedAt` against the request's
    /// `expiresAt` from the status API.
    func measureTimerLateness() async {
        let ids = state.entries.withLock { $0.filter { $0.value.completedAt != nil }.map { ($0.key, $0.value.completedAt!) } }
        await withTaskGroup(of: Void.self) { group in
            var inFlight = 0
            for (id, completedAt) in ids {
                if inFlight >= 32 {
                    await group.next()
                    inFlight -= 1
                }
                inFlight += 1
                group.addTask {
                    var lookUp = HTTPClientRequest(url: self.options.intakeURL + "/v1/requests/\(id)")
                    if let key = self.options.apiKey { lookUp.headers.add(name: "Authorization", value: "Bearer \(key)") }
                    guard let response = try? await self.http.execute(lookUp, timeout: .seconds(30)),
                        let body = try? await response.body.collect(upTo: 1 << 20),
                        let status = try? GreenlightJSON.decode(RequestStatusBody.self, from: Data(body.readableBytesView))
                    else {
                        self.state.error("status unreadable")
                        return
                    }
                    self.state.entries.withLock { $0[id]?.expiresAt = status.expiresAt }
                    let late = max(0, completedAt.timeIntervalSince(status.expiresAt))
                    self.state.record("timer lateness", .milliseconds(Int(late * 1000)))
                }
            }
        }
    }

    // MARK: - Report

    /// One row per request, in the order submitted: when each stage happened, in Unix-epoch milliseconds (empty where
    /// it did not), so that it can be set beside the services' and PostgreSQL's logs. This process's stages are
    /// timed by its monotonic clock from the run's wall-clock start; `decided` and `written` are the orchestrator's
    /// and the broker's wall-clock times.
    func writeTimeline(to path: String, start: ContinuousClock.Instant, wallStart: Date) throws {
        func ms(_ instant: ContinuousClock.Instant?) -> String {
            instant.map { String(format: "%.1f", (wallStart.timeIntervalSince1970 + seconds($0 - start)) * 1000) } ?? ""
        }
        func ms(_ date: Date?) -> String { date.map { String(format: "%.1f", $0.timeIntervalSince1970 * 1000) } ?? "" }
        var lines = ["request,submitted,accepted,emailed,clicked,clickAnswered,decided,written,received,outcomes"]
        let entries = state.entries.withLock { $0.values.sorted { $0.index < $1.index } }
        for entry in entries {
            lines.append(
                [requestId(entry.index), ms(entry.submitted), ms(entry.answered), ms(entry.emailed), ms(entry.clicked),
                 ms(entry.clickAnswered), ms(entry.completedAt), ms(entry.writtenAt), ms(entry.received), String(entry.outcomes)]
                    .joined(separator: ","))
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    func report(submitSeconds: Double, totalSeconds: Double) -> LoadReport {
        let entries = state.entries.withLock { Array($0.values) }
        let accepted = entries.filter(\.accepted)
        let completed = accepted.filter { $0.outcomes > 0 }.count
        let verification = Verification(
            missing: entries.count - completed, duplicates: entries.reduce(0) { $0 + max(0, $1.outcomes - 1) },
            wrongKind: entries.filter(\.wrongKind).count)
        var resident: [String: Int] = [:]
        for (name, pid) in options.services { resident[name] = residentKilobytes(pid: pid) }
        return LoadReport(
            mode: options.mode.rawValue, requests: options.requests, accepted: accepted.count, completed: completed,
            submitSeconds: submitSeconds.rounded(toPlaces: 3), totalSeconds: totalSeconds.rounded(toPlaces: 3),
            acceptedPerSecond: (Double(accepted.count) / max(submitSeconds, 0.001)).rounded(toPlaces: 1),
            completedPerSecond: (Double(completed) / max(totalSeconds, 0.001)).rounded(toPlaces: 1),
            latencyMs: state.histograms.withLock { $0.mapValues(LatencySummary.init) }, errors: state.errors.withLock { $0 },
            verification: verification, residentKB: resident,
            deadlines: options.mode == .timeouts ? DeadlineSpread(entries.compactMap(\.expiresAt)) : nil)
    }
}
