import Callbacks
import Intake
import Notifier
import Orchestrator
import ServiceSupport
import Foundation
import GreenlightModels
import GreenlightTestSupport
import Logging
import Testing

struct ConfigurationTests {
    static let secret = ["GREENLIGHT_LINK_SECRET": "configuration-tests-secret-0123456789"]
    /// Intake starts only with a key (or deliberately open).
    static let keys = ["GREENLIGHT_API_KEYS": "configuration-tests-key-0123456789"]

    @Test func defaultsAreUsableForLocalRuns() throws {
        let intake = try IntakeConfiguration.load(Self.keys)
        #expect(intake.common.httpPort == 8080)
        #expect(intake.common.kafka.bootstrapServers == "127.0.0.1:9092")
        #expect(intake.defaultApprover == "approver@example.com")
        #expect(try CallbacksConfiguration.load([:]).common.httpPort == 8081)
        #expect(try OrchestratorConfiguration.load(Self.secret).common.httpPort == 8082)
        #expect(try NotifierConfiguration.load(Self.secret).publicURL == "http://127.0.0.1:8081")
        #expect(intake.common.kafka.consumerProperties["fetch.wait.max.ms"] == "50")
    }

    @Test func theConsumerFetchWaitIsASetting() throws {
        let tuned = try OrchestratorConfiguration.load(Self.secret.merging(["GREENLIGHT_KAFKA_FETCH_WAIT_MS": "5"]) { a, _ in a })
        #expect(tuned.common.kafka.consumerProperties["fetch.wait.max.ms"] == "5")
        #expect { try IntakeConfiguration.load(["GREENLIGHT_KAFKA_FETCH_WAIT_MS": "0"]) } throws: { error in
            "\(error)".contains("GREENLIGHT_KAFKA_FETCH_WAIT_MS")
        }
    }

    /// An orchestrator that holds every partition runs a transaction per partition number on each of its two
    /// consumers at once, besides its timer workers, relay, janitor, gauges and readiness check: its pool follows the
    /// partition count (the Kubernetes base's 12 need 32 connections, not the 20 of the default 6).
    @Test func theOrchestratorsPoolFollowsThePartitionCount() throws {
        #expect(OrchestratorService.poolSize(partitions: 6, timerWorkers: 4) == 2 * 6 + 8)
        #expect(OrchestratorService.poolSize(partitions: 12, timerWorkers: 4) == 2 * 12 + 8)
        #expect(OrchestratorService.poolSize(partitions: 1, timerWorkers: 4) == 2 + 8)
        let kubernetes = try OrchestratorConfiguration.load(Self.secret.merging(["GREENLIGHT_KAFKA_PARTITIONS": "12"]) { a, _ in a })
        #expect(
            OrchestratorService.poolSize(partitions: kubernetes.common.topicPartitions, timerWorkers: kubernetes.timerWorkers) == 32)
    }

    /// How many timer workers fire deadlines side by side is a setting (4 by default), and each has a connection of
    /// its own in the pool: against a distant database, where each statement waits a network round trip, more
    /// workers fire more timers a second.
    @Test func theTimerWorkersAreASettingAndTheirConnectionsAreInThePool() throws {
        #expect(try OrchestratorConfiguration.load(Self.secret).timerWorkers == 4)
        let more = try OrchestratorConfiguration.load(Self.secret.merging(["GREENLIGHT_TIMER_WORKERS": "12"]) { a, _ in a })
        #expect(more.timerWorkers == 12)
        #expect(OrchestratorService.poolSize(partitions: 6, timerWorkers: more.timerWorkers) == 2 * 6 + 12 + 4)
        #expect { try OrchestratorConfiguration.load(Self.secret.merging(["GREENLIGHT_TIMER_WORKERS": "0"]) { a, _ in a }) } throws: {
            "\($0)".contains("GREENLIGHT_TIMER_WORKERS")
        }
    }

    @Test func lifecycleEventsArePublishedUnlessTurnedOff() throws {
        #expect(try OrchestratorConfiguration.load(Self.secret).lifecycleEvents)
        let off = try OrchestratorConfiguration.load(Self.secret.merging(["GREENLIGHT_LIFECYCLE_EVENTS": "false"]) { a, _ in a })
        #expect(!off.lifecycleEvents)
        #expect { try OrchestratorConfiguration.load(Self.secret.merging(["GREENLIGHT_LIFECYCLE_EVENTS": "sometimes"]) { a, _ in a }) }
            throws: { "\($0)".contains("GREENLIGHT_LIFECYCLE_EVENTS must be true or false") }
    }

    @Test func theLinkSecretIsRequiredAndLongEnough() {
        for environment in [[:], ["GREENLIGHT_LINK_SECRET": "short"]] {
            #expect {
                try OrchestratorConfiguration.load(environment)
            } throws: { error in
                "\(error)".contains("GREENLIGHT_LINK_SECRET") && "\(error)".contains("openssl rand -hex 32")
            }
            #expect(throws: ConfigurationError.self) { try NotifierConfiguration.load(environment) }
        }
    }

    @Test func everyMalformedSettingIsNamed() {
        do {
            _ = try IntakeConfiguration.load([
                "GREENLIGHT_HTTP_PORT": "eighty", "GREENLIGHT_DATABASE_URL": "mysql://db/x",
                "GREENLIGHT_DEFAULT_APPROVER": "nobody", "GREENLIGHT_KAFKA_BROKERS": "kafka",
            ])
            Issue.record("a bad configuration loaded")
        } catch let error as ConfigurationError {
            let text = error.description
            for name in ["GREENLIGHT_HTTP_PORT", "GREENLIGHT_DATABASE_URL", "GREENLIGHT_DEFAULT_APPROVER", "GREENLIGHT_KAFKA_BROKERS"] {
                #expect(text.contains(name), "\(name) missing from: \(text)")
            }
        } catch {
            Issue.record("unexpected \(error)")
        }
        #expect(throws: ConfigurationError.self) {
            try NotifierConfiguration.load(["GREENLIGHT_SMTP_URL": "mail.example.com", "GREENLIGHT_PUBLIC_URL": "ftp://x"])
        }
    }

    /// Docker and Kubernetes secrets arrive as files: every setting, secrets first, can be `NAME_FILE` instead.
    @Test func secretsCanBeReadFromFiles() throws {
        let directory = TestEnvironment.scratchURL("greenlight-secrets-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func file(_ name: String, _ content: String) throws -> String {
            let url = directory.appendingPathComponent(name)
            try Data(content.utf8).write(to: url)
            return url.path
        }
        let environment = [
            "GREENLIGHT_LINK_SECRET_FILE": try file("link", "configuration-tests-secret-0123456789\n"),
            "GREENLIGHT_SMTP_URL_FILE": try file("smtp", "smtp://mailer:from-a-file@mail.example.com:587?tls=starttls\n"),
            "GREENLIGHT_DATABASE_URL_FILE": try file("db", "postgresql://g:pw@db.internal:5432/approvals"),
        ]
        let notifier = try NotifierConfiguration.load(environment)
        let nonce = UUID()
        #expect(
            LinkToken.derive(secret: notifier.linkKeys.current, nonce: nonce)
                == LinkToken.derive(secret: LinkSecret("configuration-tests-secret-0123456789")!, nonce: nonce))
        #expect(notifier.smtp.password == "from-a-file" && notifier.smtp.host == "mail.example.com")
        #expect(notifier.database.database == "approvals")
        #expect(!notifier.banner.contains("from-a-file"))

        // Both ways at once, or a file that is not there: refused, naming the setting.
        #expect {
            try NotifierConfiguration.load(environment.merging(["GREENLIGHT_LINK_SECRET": "another-secret-0123456789-0123456789"]) { a, _ in a })
        } throws: { "\($0)".contains("GREENLIGHT_LINK_SECRET and GREENLIGHT_LINK_SECRET_FILE are both set") }
        #expect {
            try IntakeConfiguration.load(["GREENLIGHT_API_KEYS_FILE": directory.appendingPathComponent("missing").path])
        } throws: { "\($0)".contains("GREENLIGHT_API_KEYS_FILE names") }
    }

    /// TLS and SASL for every Kafka client, and any librdkafka property passed through; each checked with librdkafka
    /// at start, a bad one named by its setting.
    @Test func kafkaSecurityAndPassedThroughProperties() throws {
        let directory = TestEnvironment.scratchURL("greenlight-kafka-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let ca = directory.appendingPathComponent("ca.pem")
        try Data("not checked until a connection".utf8).write(to: ca)
        let secure = try OrchestratorConfiguration.load(
            Self.secret.merging([
                "GREENLIGHT_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "GREENLIGHT_KAFKA_SASL_MECHANISM": "scram-sha-256",
                "GREENLIGHT_KAFKA_SASL_USERNAME": "greenlight-orchestrator", "GREENLIGHT_KAFKA_SASL_PASSWORD": "kafka-hunter2",
                "GREENLIGHT_KAFKA_SSL_CA_LOCATION": ca.path,
                "GREENLIGHT_KAFKA_PROPERTY_socket_connection_setup_timeout_ms": "5000",
            ]) { a, _ in a })
        #expect(secure.common.kafka.properties == [
            "security.protocol": "sasl_ssl", "sasl.mechanisms": "SCRAM-SHA-256", "sasl.username": "greenlight-orchestrator",
            "sasl.password": "kafka-hunter2", "ssl.ca.location": ca.path, "socket.connection.setup.timeout.ms": "5000",
        ])
        #expect(!secure.banner.contains("kafka-hunter2"))
        // The CLI and the load generator read the same settings.
        #expect(
            try KafkaClientSettings.fromEnvironment(["GREENLIGHT_KAFKA_PROPERTY_socket_connection_setup_timeout_ms": "5000"])
                == ["socket.connection.setup.timeout.ms": "5000"])
        #expect(try IntakeConfiguration.load(Self.keys).common.kafka.properties.isEmpty)

        func problems(_ environment: [String: String]) -> String {
            do {
                _ = try IntakeConfiguration.load(environment)
                return ""
            } catch {
                return "\(error)"
            }
        }
        let unknown = problems(["GREENLIGHT_KAFKA_PROPERTY_no_such_property": "1"])
        #expect(unknown.contains("GREENLIGHT_KAFKA_PROPERTY_no_such_property: librdkafka refuses it"), "\(unknown)")
        #expect(unknown.contains("no.such.property"))
        #expect(problems(["GREENLIGHT_KAFKA_PROPERTY_socket_timeout_ms": "many"]).contains("GREENLIGHT_KAFKA_PROPERTY_socket_timeout_ms"))
        #expect(problems(["GREENLIGHT_KAFKA_SECURITY_PROTOCOL": "tls"]).contains("GREENLIGHT_KAFKA_SECURITY_PROTOCOL must be one of"))
        // A refused value of a secret-looking property is named, never quoted.
        let secretRefused = problems(["GREENLIGHT_KAFKA_PROPERTY_enable_sasl_oauthbearer_unsecure_jwt": "maybe-hunter2"])
        #expect(secretRefused.contains("GREENLIGHT_KAFKA_PROPERTY_enable_sasl_oauthbearer_unsecure_jwt: librdkafka refuses it"))
        #expect(!secretRefused.contains("hunter2"), "\(secretRefused)")
        let noCredentials = problems(["GREENLIGHT_KAFKA_SECURITY_PROTOCOL": "sasl_plaintext"])
        #expect(noCredentials.contains("GREENLIGHT_KAFKA_SASL_USERNAME is required"))
        #expect(noCredentials.contains("GREENLIGHT_KAFKA_SASL_PASSWORD"))
        #expect(
            problems(["GREENLIGHT_KAFKA_SECURITY_PROTOCOL": "ssl", "GREENLIGHT_KAFKA_SSL_CA_LOCATION": "/nonexistent/ca.pem"])
                .contains("GREENLIGHT_KAFKA_SSL_CA_LOCATION names \"/nonexistent/ca.pem\""))
    }

    @Test func secretsAreMaskedInTheStartupBanner() throws {
        let notifier = try NotifierConfiguration.load(
            ["GREENLIGHT_SMTP_URL": "smtp://u:hunter2@mail:587?tls=starttls"].merging(Self.secret) { a, _ in a })
        #expect(!notifier.banner.contains("hunter2"))
        #expect(!notifier.banner.contains("configuration-tests-secret"))
        #expect(notifier.banner.contains("GREENLIGHT_LINK_SECRET=***"))
        let intake = try IntakeConfiguration.load(Self.keys.merging(["GREENLIGHT_DATABASE_URL": "postgresql://u:hunter2@db:5432/g"]) { a, _ in a })
        #expect(!intake.banner.contains("hunter2"))
        #expect(intake.banner.contains("postgresql://u:***@db:5432/g"))
    }
}

struct JSONLogTests {
    final class Lines: @unchecked Sendable {
        let lock = NSLock()
        var lines: [String] = []
        func append(_ line: String) { lock.withLock { lines.append(line) } }
    }

    @Test func logLinesAreJSONWithTheirMetadataAtTheTopLevel() throws {
        let lines = Lines()
        var logger = Logger(label: "greenlight-test") { _ in JSONLogHandler(service: "greenlight-test", level: .info) { lines.append($0) } }
        logger[metadataKey: "executionId"] = "E-1"
        logger.info("Workflow started", metadata: ["requestId": "REQ-1", "eventId": "\(42)"])
        logger.debug("not at this level")
        #expect(lines.lines.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines.lines[0].utf8)) as? [String: Any])
        #expect(object["message"] as? String == "Workflow started")
        #expect(object["level"] as? String == "info")
        #expect(object["service"] as? String == "greenlight-test")
        #expect(object["requestId"] as? String == "REQ-1")
        #expect(object["executionId"] as? String == "E-1")
        #expect(object["eventId"] as? String == "42")
        #expect(object["timestamp"] as? String != nil)
    }

    @Test func theFormatIsASetting() throws {
        #expect(try IntakeConfiguration.load(ConfigurationTests.keys).common.logFormat == .json)
        #expect(try IntakeConfiguration.load(ConfigurationTests.keys.merging(["GREENLIGHT_LOG_FORMAT": "text"]) { a, _ in a }).common.logFormat == .text)
        #expect(throws: ConfigurationError.self) { try IntakeConfiguration.load(["GREENLIGHT_LOG_FORMAT": "xml"]) }
    }
}
