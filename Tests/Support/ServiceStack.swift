import AsyncHTTPClient
import Foundation
import GreenlightModels
import Kafka
import Logging
import MailSink
import NIOCore
import Postgres
import Synchronization

/// The four Greenlight services running as real processes against a throwaway database, an embedded Kafka
/// broker (in this process, over TCP) and an SMTP sink (also in this process). Use `ServiceStack.with { … }`,
/// which stops everything however the body ends.
public final class ServiceStack: Sendable {
    public let cluster: KafkaMockCluster
    public let sink: SMTPSink
    public let database: TestDatabase
    public let ports: [String: Int]
    private let live: Mutex<[String: ChildProcess]>
    private let stopped = Mutex<[String: Int32]?>(nil)
    private let environments: [String: [String: String]]
    private let binDirectory: String
    /// The running process of each service.
    public var processes: [String: ChildProcess] { live.withLock { $0 } }
    public let outcomes: OutcomeCollector
    public let logDirectory: String

    /// The link secret every stack's orchestrator and notifiers share.
    public static let linkSecret = "e2e-link-secret-0123456789abcdef0123456789"
    /// The secret of the key a stack's API calls use unless a test configures keys of its own.
    public static let apiSecret = "e2e-api-secret-0123456789abcdef"
    /// The key every stack has unless a test sets `GREENLIGHT_API_KEYS`: every scope, named `e2e`.
    public static let apiKeys = "e2e:submit+read+decide+admin:\(apiSecret)"

    public static let services = [
        "intake": "greenlight-intake", "orchestrator": "greenlight-orchestrator",
        "notifier": "greenlight-notifier", "callbacks": "greenlight-callbacks",
    ]

    public var intakeURL: String { "http://127.0.0.1:\(ports["intake"]!)" }
    /// The secret of the first key intake was given (a bare secret, or the last part of `name:scopes:secret`);
    /// nil when it was given none.
    public var apiSecret: String? {
        guard let first = environments["intake"]?["GREENLIGHT_API_KEYS"]?.split(separator: ",").first else { return nil }
        return first.split(separator: ":", maxSplits: 2).last.map(String.init)
    }
    /// `Authorization: Bearer <apiSecret>`, for calls to the program APIs.
    public var authorization: [(String, String)] { apiSecret.map { [("Authorization", "Bearer \($0)")] } ?? [] }
    public var callbacksURL: String { "http://127.0.0.1:\(ports["callbacks"]!)" }

    /// `environment` goes to every service; `services` adds settings for one service (by name: `intake`,
    /// `orchestrator`, `notifier`, `callbacks`), kept when it is restarted.
    public static func with<T>(
        environment extra: [String: String] = [:], services: [String: [String: String]] = [:],
        _ body: (ServiceStack) async throws -> T
    ) async throws -> T {
        let stack = try await start(environment: extra, services: services)
        do {
            let result = try await body(stack)
            await stack.stop()
            return result
        } catch {
            FileHandle.standardError.write(Data(stack.diagnostics().utf8))
            await stack.stop()
            throw error
        }
    }

    static func start(environment extra: [String: String], services perService: [String: [String: String]]) async throws
        -> ServiceStack
    {
        let binDirectory = try Self.binDirectory()
        let cluster = try KafkaMockCluster()
        for topic in Topic.allCases { try cluster.createTopic(topic.rawValue, partitions: 6) }
        // Mail to bounce@… is refused with a 550, for delivery-failure tests.
        let sink = try await SMTPSink.start(refuse: { $0.lowercased().hasPrefix("bounce@") })
        let database = try await TestDatabase.create("e2e")
        let logDirectory = TestEnvironment.scratchPath("greenlight-e2e-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)

        // Every service binds port 0 and logs the port it got: ports picked here and bound later could be taken
        // in between by another stack of a test running in parallel.
        var environment = [
            "GREENLIGHT_KAFKA_BROKERS": cluster.bootstrapServers,
            "GREENLIGHT_DATABASE_URL": database.url,
            "GREENLIGHT_SMTP_URL": "smtp://127.0.0.1:\(sink.port)",
            "GREENLIGHT_MAIL_FROM": "greenlight@example.com",
            "GREENLIGHT_DEFAULT_APPROVER": "default-approver@example.com",
            "GREENLIGHT_HTTP_HOST": "127.0.0.1",
            "GREENLIGHT_HTTP_PORT": "0",
            "GREENLIGHT_LOG_LEVEL": "info",
            "GREENLIGHT_POLL_INTERVAL_MS": "100",
            "GREENLIGHT_LINK_SECRET": ServiceStack.linkSecret,
            "GREENLIGHT_API_KEYS": ServiceStack.apiKeys,
            // Tests and the fault suite submit far more than a person would; the limits have tests of their own.
            "GREENLIGHT_SUBMIT_RATE_LIMIT": "0",
            "GREENLIGHT_RECIPIENT_RATE_LIMIT": "0",
            // A click's page shows the orchestrator's verdict; on a machine busy with dozens of test processes it can
            // take longer than the 2 s a person is kept waiting, and the tests check what the page says, not how fast.
            "GREENLIGHT_LINK_VERDICT_WAIT_MS": "20000",
            // A mail server back from an outage is tried again within two seconds.
            "GREENLIGHT_NOTIFY_RETRY_INITIAL_MS": "200",
            "GREENLIGHT_NOTIFY_RETRY_MAX_MS": "2000",
            // The embedded broker gives a dead member's partitions away after about twice this.
            "GREENLIGHT_KAFKA_SESSION_TIMEOUT_MS": "4000",
        ].merging(extra) { _, new in new }

        // The schema's owner migrates it first, as compose's and Kubernetes' one-off job does, and grants intake and
        // the callback receiver a role of their own with only the rights they need: every end-to-end test runs them so.
        let reader = try await database.makeRole("reader")
        let migrate = try await ChildProcess(
            name: "migrate", executable: "\(binDirectory)/greenlight", arguments: ["migrate", "--grant-readers", reader.role],
            environment: ["GREENLIGHT_DATABASE_URL": database.url], logPath: "\(logDirectory)/migrate.log")
        let migrated = await migrate.waitForExit()
        guard migrated == 0 else {
            throw ChildProcessError(description: "greenlight migrate exited with \(migrated): \(migrate.logTail())")
        }
        var perService = perService
        for name in ["intake", "callbacks"] {
            perService[name, default: [:]]["GREENLIGHT_DATABASE_URL"] = perService[name]?["GREENLIGHT_DATABASE_URL"] ?? reader.url
        }

        var ports: [String: Int] = [:]
        var processes: [String: ChildProcess] = [:]
        var environments: [String: [String: String]] = [:]
        do {
            // The callback receiver first: its address is the public URL the notifier puts in links.
            for name in ["callbacks", "intake", "orchestrator", "notifier"] {
                let own = environment.merging(perService[name] ?? [:]) { _, new in new }
                let process = try await ChildProcess(
                    name: name, executable: "\(binDirectory)/\(services[name]!)", environment: own,
                    logPath: "\(logDirectory)/\(name).log")
                processes[name] = process
                environments[name] = own
                ports[name] = try await listeningPort(of: process)
                if name == "callbacks" { environment["GREENLIGHT_PUBLIC_URL"] = "http://127.0.0.1:\(ports[name]!)" }
            }
        } catch {
            for process in processes.values {
                FileHandle.standardError.write(Data("----- \(process.name)\n\(process.logTail())\n".utf8))
                _ = await process.stop()
            }
            await sink.shutdown()
            throw error
        }
        let outcomes = try OutcomeCollector(brokers: cluster.bootstrapServers)
        let stack = ServiceStack(
            cluster: cluster, sink: sink, database: database, ports: ports, processes: processes,
            environments: environments, binDirectory: binDirectory, outcomes: outcomes, logDirectory: logDirectory)
        do {
            try await stack.waitUntilReady()
        } catch {
            FileHandle.standardError.write(Data(stack.diagnostics().utf8))
            await stack.stop()
            throw error
        }
        return stack
    }

    private init(
        cluster: KafkaMockCluster, sink: SMTPSink, database: TestDatabase, ports: [String: Int],
        processes: [String: ChildProcess], environments: [String: [String: String]], binDirectory: String,
        outcomes: OutcomeCollector, logDirectory: String
    ) {
        self.cluster = cluster
        self.sink = sink
        self.database = database
        self.ports = ports
        live = Mutex(processes)
        self.environments = environments
        self.binDirectory = binDirectory
        self.outcomes = outcomes
        self.logDirectory = logDirectory
    }

    /// The messages on `topic` keyed `key`, read from the broker: what was published, whatever has consumed it.
    public func messages(on topic: Topic, key: String) async throws -> [KafkaMessage] {
        try await KafkaTopicReader.readAll(
            topic: topic.rawValue, configuration: KafkaConfiguration(bootstrapServers: cluster.bootstrapServers),
            logger: TestEnvironment.logger("topic-reader"), timeout: .seconds(10)
        ).filter { $0.keyString == key }
    }

    /// Waits until the stack has nothing left to do: every event on the orchestrator's topics handled (it has an
    /// inbox row), nothing waiting in the outbox, every message on `approvals.notifications` received by the notifier
    /// (the relay deletes an outbox row once the broker has it, so the outbox cannot tell one still on its way), and
    /// no notification waiting to be sent. What a test checks after this (an email count, say) can no longer change
    /// because of work still in flight.
    public func waitUntilSettled(timeout: Duration = .seconds(30)) async throws {
        let pool = try database.pool(maxConnections: 1)
        defer { pool.close() }
        let kafka = KafkaConfiguration(bootstrapServers: cluster.bootstrapServers)
        try await waitUntil(timeout: timeout, interval: .milliseconds(200)) {
            var published = 0
            for topic in [Topic.requests, .decisions, .internalCommands] {
                published += try await KafkaTopicReader.readAll(
                    topic: topic.rawValue, configuration: kafka, logger: TestEnvironment.logger("topic-reader"), timeout: .seconds(10)
                ).count
            }
            let notifications = try await KafkaTopicReader.readAll(
                topic: Topic.notifications.rawValue, configuration: kafka, logger: TestEnvironment.logger("topic-reader"),
                timeout: .seconds(10)
            ).compactMap { try? GreenlightJSON.decode(Identified.self, from: Data($0.value)).eventId.uuidString }
            let row = try await pool.query(
                """
                SELECT (SELECT count(*) FROM durable_inbox),
                       (SELECT count(*) FROM durable_outbox WHERE sent_at IS NULL),
                       (SELECT count(*) FROM unnest(\(notifications)::uuid[]) AS n(id)
                        WHERE NOT EXISTS (SELECT 1 FROM notifier_messages m WHERE m.notification_id = n.id)),
                       (SELECT count(*) FROM notifier_messages WHERE status IN ('pending', 'sending'))
                """
            ).decode((Int, Int, Int, Int).self)
            guard let (handled, unsent, unreceived, unsentMail) = row.first else { return false }
            return handled >= published && unsent == 0 && unreceived == 0 && unsentMail == 0
        }
    }

    /// Any event's id, whatever else it carries.
    private struct Identified: Decodable {
        var eventId: UUID
    }

    /// Reads the port a service logged ("HTTP server listening … port=N").
    /// 90 seconds: a service's start (its migrations, its Kafka client) shares two cores with every other suite's stack.
    public static func listeningPort(of process: ChildProcess, timeout: Duration = .seconds(90)) async throws -> Int {
        var port: Int?
        _ = try await eventually(timeout: timeout, interval: .milliseconds(20)) {
            if process.hasExited { throw ChildProcessError(description: "\(process.name) exited during start-up") }
            let log = (try? String(contentsOfFile: process.logPath, encoding: .utf8)) ?? ""
            guard let line = log.split(separator: "\n").first(where: { $0.contains("HTTP server listening") }) else {
                return false
            }
            // A JSON log line (the default), or a text one with `port=N`.
            if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] {
                port = (object["port"] as? String).flatMap { Int($0) }
            } else if let range = line.range(of: "port=") {
                port = Int(line[range.upperBound...].prefix { $0.isNumber })
            }
            return port != nil
        }
        guard let port else { throw ChildProcessError(description: "\(process.name) did not report its port") }
        return port
    }

    /// Waits until every service's `/readyz` answers 200 and the outcome consumer has joined its group.
    func waitUntilReady(timeout: Duration = .seconds(60)) async throws {
        for (name, port) in ports {
            let ready = try await eventually(timeout: timeout, interval: .milliseconds(100)) {
                if processes[name]!.hasExited {
                    throw ChildProcessError(description: "\(name) exited during start-up")
                }
                return (try? await HTTP.get("http://127.0.0.1:\(port)/readyz").status) == 200
            }
            guard ready else { throw ChildProcessError(description: "\(name) did not become ready") }
        }
    }

    /// Kills a service with SIGKILL (no clean-up of any kind) and starts it again, on a new port.
    public func killAndRestart(_ name: String) async throws {
        let old = processes[name]!
        old.signal(SIGKILL)
        _ = await old.waitForExit()
        let process = try await ChildProcess(
            name: name, executable: "\(binDirectory)/\(Self.services[name]!)", environment: environments[name]!,
            logPath: "\(logDirectory)/\(name).log")
        live.withLock { $0[name] = process }
    }

    /// Kills one running instance (by the name it was started under) with SIGKILL, and waits until it is gone.
    public func kill(_ instance: String) async {
        guard let process = processes[instance] else { return }
        process.signal(SIGKILL)
        _ = await process.waitForExit()
    }

    /// Starts one more instance of a service (for example a second notifier in the same consumer group).
    @discardableResult
    public func startAnother(_ name: String, as instance: String, environment extra: [String: String] = [:]) async throws -> ChildProcess {
        var environment = environments[name]!.merging(extra) { _, new in new }
        environment["GREENLIGHT_HTTP_PORT"] = "0"
        let process = try await ChildProcess(
            name: instance, executable: "\(binDirectory)/\(Self.services[name]!)", environment: environment,
            logPath: "\(logDirectory)/\(instance).log")
        live.withLock { $0[instance] = process }
        return process
    }

    /// Stops every service with SIGTERM (as an orchestrator would) and returns each one's exit status; 0 is a
    /// clean shutdown. Later calls return the same statuses and do nothing else.
    @discardableResult
    public func stop() async -> [String: Int32] {
        if let statuses = stopped.withLock({ $0 }) { return statuses }
        var statuses: [String: Int32] = [:]
        for (name, process) in processes {
            let status = await process.stop()
            statuses[name] = status
            if status != 0 {
                FileHandle.standardError.write(Data("\(process.name) exited with status \(status)\n".utf8))
            }
        }
        await outcomes.close()
        await sink.shutdown()
        stopped.withLock { $0 = statuses }
        return statuses
    }

    /// The last lines of every service's log, for a failing test's output.
    public func diagnostics() -> String {
        processes.values.map { "----- \($0.name) (\($0.logPath))\n\($0.logTail())\n" }.joined()
    }

    // MARK: - Acting as a client

    /// POSTs a JSON body to intake, with the stack's key unless `headers` bring an `Authorization` of their own.
    public func submit(_ json: String, path: String = "/v1/requests", headers: [(String, String)] = []) async throws
        -> HTTP.Response
    {
        let auth = headers.contains { $0.0.lowercased() == "authorization" } ? [] : authorization
        return try await HTTP.post(intakeURL + path, body: json, contentType: "application/json", headers: auth + headers)
    }

    /// GETs a path of intake's API with the stack's key.
    public func get(_ path: String) async throws -> HTTP.Response {
        try await HTTP.send(url: intakeURL + path, headers: authorization)
    }

    public func status(_ requestId: String) async throws -> RequestStatusBody? {
        let response = try await get("/v1/requests/\(requestId)")
        guard response.status == 200 else { return nil }
        return try GreenlightJSON.decode(RequestStatusBody.self, from: Data(response.body.utf8))
    }

    /// The emails received for one request, found by their `X-Greenlight-Request-Id` header: those that ask
    /// approvers to decide (receipts, which tell an approver what became of a click, are `receipts(forRequest:)`).
    public func mails(forRequest requestId: String) -> [ParsedMail] {
        sink.messages.map(\.parsed).filter {
            $0.header("X-Greenlight-Request-Id") == requestId && $0.header("X-Greenlight-Kind") != "receipt"
        }
    }

    /// The receipts sent about a request's clicks.
    public func receipts(forRequest requestId: String) -> [ParsedMail] {
        sink.messages.map(\.parsed).filter {
            $0.header("X-Greenlight-Request-Id") == requestId && $0.header("X-Greenlight-Kind") == "receipt"
        }
    }

    /// Waits for the first email about a request.
    public func waitForMail(forRequest requestId: String, timeout: Duration = .seconds(30)) async throws -> ParsedMail {
        var found: ParsedMail?
        _ = try await eventually(timeout: timeout) {
            found = mails(forRequest: requestId).first
            return found != nil
        }
        guard let found else { throw ChildProcessError(description: "no email arrived for \(requestId)") }
        return found
    }
}

/// Reads `approvals.outcomes` with a group of its own and keeps every `ApprovalCompleted`.
public final class OutcomeCollector: Sendable {
    private final class Received: Sendable {
        let events = Mutex<[ApprovalCompleted]>([])
        let traceparents = Mutex<[String: String]>([:])
    }

    private let consumer: KafkaConsumer
    private let received = Received()
    private let task: Task<Void, Never>

    init(brokers: String) throws {
        let consumer = try KafkaConsumer(
            configuration: KafkaConfiguration(bootstrapServers: brokers), groupId: "test-outcomes-\(UUID())",
            topics: [Topic.outcomes.rawValue], logger: TestEnvironment.logger("outcomes"))
        let received = self.received
        self.consumer = consumer
        task = Task {
            do {
                for try await message in consumer.messages {
                    if let event = try? GreenlightJSON.decode(ApprovalCompleted.self, from: Data(message.value)) {
                        received.events.withLock { $0.append(event) }
                        if let header = message.header("traceparent") {
                            received.traceparents.withLock { $0[event.requestId] = String(decoding: header, as: UTF8.self) }
                        }
                    }
                }
            } catch {}
        }
    }

    public var all: [ApprovalCompleted] { received.events.withLock { $0 } }

    /// The `traceparent` header the request's outcome message carried.
    public func traceparent(forRequest requestId: String) -> String? {
        received.traceparents.withLock { $0[requestId] }
    }

    public func outcomes(forRequest requestId: String) -> [ApprovalCompleted] {
        all.filter { $0.requestId == requestId }
    }

    /// Waits for the first outcome of a request.
    public func waitFor(_ requestId: String, timeout: Duration = .seconds(30)) async throws -> ApprovalCompleted {
        var found: ApprovalCompleted?
        _ = try await eventually(timeout: timeout) {
            found = outcomes(forRequest: requestId).first
            return found != nil
        }
        guard let found else { throw ChildProcessError(description: "no outcome arrived for \(requestId)") }
        return found
    }

    func close() async {
        await consumer.close()
        await task.value
    }
}

extension ServiceStack {
    /// Where `swift build` put the executables: `GREENLIGHT_BIN_DIR`, or beside the test bundle.
    public static func executableDirectory() throws -> String {
        try binDirectory()
    }

    static func binDirectory() throws -> String {
        if let directory = ProcessInfo.processInfo.environment["GREENLIGHT_BIN_DIR"], !directory.isEmpty {
            return directory
        }
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        guard FileManager.default.isExecutableFile(atPath: "\(bundle)/greenlight-intake") else {
            throw ChildProcessError(
                description: "the service executables are not built: run scripts/test (it runs swift build first)")
        }
        return bundle
    }
}

/// A free TCP port on 127.0.0.1 (the kernel picks it; there is a small window before the service binds it).
public func freePort() throws -> Int {
    let (descriptor, port) = try listeningOnLoopback()
    close(descriptor)
    return port
}

/// A TCP socket listening on a port of 127.0.0.1 the kernel picks, and that port. The caller closes it.
public func listeningOnLoopback(backlog: Int32 = 16) throws -> (descriptor: Int32, port: Int) {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw ChildProcessError(description: "socket() failed") }
    var address = loopbackAddress(port: 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
            bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
        }
    }
    guard bound, listen(descriptor, backlog) == 0 else {
        let reason = String(cString: strerror(errno))  // before close() can change errno
        close(descriptor)
        throw ChildProcessError(description: "could not listen on 127.0.0.1: \(reason)")
    }
    return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
}

/// A TCP socket connected to `port` on 127.0.0.1, or nil when nothing accepts there. The caller closes it.
public func connectToLoopback(port: Int) -> Int32? {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return nil }
    var address = loopbackAddress(port: UInt16(port))
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
    guard connected else {
        close(descriptor)
        return nil
    }
    return descriptor
}

private func loopbackAddress(port: UInt16) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = port.bigEndian
    return address
}

/// A small HTTP client for tests.
public enum HTTP {
    public struct Response: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: String

        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    public static func get(_ url: String) async throws -> Response {
        try await send(HTTPClientRequest(url: url))
    }

    /// A GET with headers.
    public static func send(url: String, headers: [(String, String)]) async throws -> Response {
        var request = HTTPClientRequest(url: url)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        return try await send(request)
    }

    /// What a person does with an emailed link: opens the page (GET), then presses its button — POSTs the
    /// page's form, hidden fields included, with `comment`.
    public static func clickThrough(
        _ link: String, comment: String? = nil, fields: [(String, String)] = [], headers: [(String, String)] = []
    ) async throws -> Response {
        let page = try await get(link)
        guard page.status == 200 else { return page }
        let decision = link.contains("/reject/") ? "reject" : "approve"
        guard let action = page.body.range(of: #"action="/\#(decision)/"#),
            let confirm = page.body[action.upperBound...].range(of: #"name="confirm" value=""#),
            let end = page.body[confirm.upperBound...].firstIndex(of: "\"")
        else { throw ChildProcessError(description: "the page at \(link) has no \(decision) form:\n\(page.body)") }
        let proof = page.body[confirm.upperBound..<end]
        var body = "decision=\(decision)&confirm=\(proof)"
        if let comment {
            body += "&comment=" + (comment.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
        }
        for (name, value) in fields {
            body += "&\(name)=" + (value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
        }
        return try await post(link, body: body, contentType: "application/x-www-form-urlencoded", headers: headers)
    }

    /// The form a link's page would post, sent without opening the page (a resubmitted form).
    public static func postDecision(_ link: String) async throws -> Response {
        let decision = link.contains("/reject/") ? "reject" : "approve"
        let token = String(link.split(separator: "/").last ?? "")
        return try await post(
            link, body: "decision=\(decision)&confirm=\(LinkToken.formProof(for: token))",
            contentType: "application/x-www-form-urlencoded")
    }

    public static func post(
        _ url: String, body: String, contentType: String, headers: [(String, String)] = [], method: String = "POST"
    ) async throws -> Response {
        var request = HTTPClientRequest(url: url)
        request.method = .init(rawValue: method)
        request.headers.add(name: "Content-Type", value: contentType)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        return try await send(request)
    }

    /// Sends exactly the headers a test gives: without a tracer, which would add a `traceparent` of its own once a
    /// suite in this process (they share one) has bootstrapped one.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.tracing.tracer = nil
        return HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup, configuration: configuration)
    }()

    static func send(_ request: HTTPClientRequest) async throws -> Response {
        let response = try await client.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 4 * 1024 * 1024)
        return Response(
            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
            body: String(buffer: body))
    }
}

extension DeadLetter {
    /// The message it was written for (topic, partition, offset). Dead letters are published at least once — a message
    /// dead-lettered but not yet committed when its group rebalances is read and dead-lettered again — so tests count
    /// letters by this.
    public var original: String { "\(topic)/\(partition)/\(offset)" }
}
