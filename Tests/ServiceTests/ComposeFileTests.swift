import Callbacks
import Foundation
import GreenlightModels
import Intake
import Notifier
import Orchestrator
import Testing
import Yams

/// docker-compose.yml against the services' own configuration: every setting a service needs is set for it, and
/// ports, URLs and credentials agree across services.
struct ComposeFileTests {
    static let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../docker-compose.yml").standardized

    /// Tuning knobs with defaults that suit containers as well; everything else a service reads must be set.
    static let optional: Set<String> = [
        "GREENLIGHT_LOG_LEVEL", "GREENLIGHT_POLL_INTERVAL_MS", "GREENLIGHT_TIMER_WORKERS", "GREENLIGHT_KAFKA_REPLICATION_FACTOR",
        "GREENLIGHT_LINK_RATE_LIMIT", "GREENLIGHT_TRUST_FORWARDED_FOR", "GREENLIGHT_DEFAULT_CHANNEL", "GREENLIGHT_WEBHOOK_URL",
        "GREENLIGHT_KAFKA_FETCH_WAIT_MS", "GREENLIGHT_KAFKA_SESSION_TIMEOUT_MS",
        "GREENLIGHT_INBOX_RETENTION_HOURS", "GREENLIGHT_NOTIFIER_SENDERS", "GREENLIGHT_NOTIFY_RETRY_INITIAL_MS",
        "GREENLIGHT_NOTIFY_RETRY_MAX_MS", "GREENLIGHT_KAFKA_SECURITY_PROTOCOL", "GREENLIGHT_LINK_SECRETS_PREVIOUS",
        "GREENLIGHT_INTERNAL_HOST", "GREENLIGHT_INTERNAL_PORT", "GREENLIGHT_FOUR_EYES", "GREENLIGHT_INTAKE_AUTH", "GREENLIGHT_TEMPLATE_DIR",
        "GREENLIGHT_SUBMIT_RATE_LIMIT", "GREENLIGHT_RECIPIENT_RATE_LIMIT", "GREENLIGHT_LINK_VERDICT_WAIT_MS",
        // Off unless the operator opens internal addresses to callback URLs on purpose; plain JSON events by default.
        "GREENLIGHT_CALLBACK_ALLOW_PRIVATE", "GREENLIGHT_MAX_OUTCOME_WAITERS", "GREENLIGHT_EVENT_FORMAT", "GREENLIGHT_EVENT_SOURCE",
        "GREENLIGHT_CALLBACK_MAX_AGE_SECONDS", "GREENLIGHT_LIFECYCLE_EVENTS",
        // The inbox's sign-in and session tuning, and its admins (none by default).
        "GREENLIGHT_SIGN_IN_LINK_TTL_SECONDS", "GREENLIGHT_SESSION_IDLE_SECONDS", "GREENLIGHT_SESSION_MAX_SECONDS",
        "GREENLIGHT_SESSION_ROTATE_SECONDS", "GREENLIGHT_SIGN_IN_RATE_LIMIT", "GREENLIGHT_SIGN_IN_EMAIL_RATE_LIMIT",
        "GREENLIGHT_ADMIN_EMAILS",
        // Slack is off unless a bot token (and its signing secret) is configured.
        "GREENLIGHT_SLACK_BOT_TOKEN", "GREENLIGHT_SLACK_SIGNING_SECRET", "GREENLIGHT_SLACK_API_URL",
    ]

    /// The variables each service reads, as its own configuration loader reports them.
    static func settings() throws -> [String: Set<String>] {
        let secret = ["GREENLIGHT_LINK_SECRET": String(repeating: "s", count: 32)]
        func names(_ banner: String) -> Set<String> {
            Set(banner.split(separator: " ").compactMap { $0.split(separator: "=").first.map(String.init) })
        }
        return [
            "intake": names(try IntakeConfiguration.load(["GREENLIGHT_API_KEYS": String(repeating: "k", count: 16)]).banner),
            "orchestrator": names(try OrchestratorConfiguration.load(secret).banner),
            "notifier": names(try NotifierConfiguration.load(secret).banner),
            "callbacks": names(try CallbacksConfiguration.load([:]).banner),
        ]
    }

    func services() throws -> [String: [String: Any]] {
        let root = try #require(try Yams.load(yaml: String(contentsOf: Self.file, encoding: .utf8)) as? [String: Any])
        return try #require(root["services"] as? [String: [String: Any]])
    }

    func environment(_ service: [String: Any]) -> [String: String] {
        (service["environment"] as? [String: Any] ?? [:]).mapValues { "\($0)" }
    }

    @Test func everyRequiredSettingIsSetForEveryService() throws {
        let services = try services()
        let root = try #require(try Yams.load(yaml: String(contentsOf: Self.file, encoding: .utf8)) as? [String: Any])
        let secrets = root["secrets"] as? [String: Any] ?? [:]
        for (name, settings) in try Self.settings() {
            let service = try #require(services[name], "no \(name) service in docker-compose.yml")
            let environment = environment(service)
            let mounted = Set((service["secrets"] as? [String] ?? []).map { "/run/secrets/\($0)" })
            for setting in settings.subtracting(Self.optional) {
                // Set directly, or as a Docker secret the service mounts and that compose defines.
                if let file = environment[setting + "_FILE"] {
                    #expect(mounted.contains(file), "\(name) reads \(setting) from \(file), which it does not mount")
                    #expect(secrets[String(file.split(separator: "/").last ?? "")] != nil, "no secret for \(file)")
                } else {
                    #expect(environment[setting]?.isEmpty == false, "\(name) needs \(setting)")
                }
            }
            // Secrets arrive as files, never as environment variables (which `docker inspect` shows).
            for secret in ["GREENLIGHT_LINK_SECRET", "GREENLIGHT_API_KEYS"] {
                #expect(environment[secret] == nil, "\(name) gets \(secret) as an environment variable")
            }
            #expect(service["restart"] != nil, "\(name) has no restart policy")
            #expect(service["healthcheck"] != nil, "\(name) has no health check")
            #expect(service["depends_on"] != nil, "\(name) does not wait for its dependencies")
        }
    }

    @Test func portsURLsAndCredentialsAgree() throws {
        let services = try services()
        for name in ["intake", "orchestrator", "notifier", "callbacks"] {
            let service = try #require(services[name])
            let port = try #require(environment(service)["GREENLIGHT_HTTP_PORT"])
            let check = (service["healthcheck"] as? [String: Any])?["test"] as? [String] ?? []
            #expect(check.joined(separator: " ").contains("127.0.0.1:\(port)/"), "\(name)'s health check misses port \(port)")
            for mapping in service["ports"] as? [String] ?? [] {
                #expect(mapping.hasSuffix(":\(port)"), "\(name) publishes \(mapping) but listens on \(port)")
            }
        }
        // The notifier and orchestrator publish no host port, so they can be scaled.
        #expect(services["notifier"]?["ports"] == nil)
        #expect(services["orchestrator"]?["ports"] == nil)

        // Links in emails reach the callback receiver's published port.
        let publicURL = try #require(URLComponents(string: environment(services["notifier"]!)["GREENLIGHT_PUBLIC_URL"] ?? ""))
        // host-address:host-port:container-port; published on the loopback address only.
        let callbackPorts = (services["callbacks"]?["ports"] as? [String] ?? []).map { $0.split(separator: ":").map(String.init) }
        #expect(callbackPorts.contains { $0.count == 3 && $0[1] == String(publicURL.port ?? 80) })
        for name in ["intake", "callbacks"] {
            for mapping in services[name]?["ports"] as? [String] ?? [] {
                #expect(mapping.hasPrefix("127.0.0.1:"), "\(name) publishes \(mapping) on every interface")
            }
        }

        // The notifier's SMTP server, the brokers and the database are the compose services of those names.
        let smtp = try #require(URLComponents(string: environment(services["notifier"]!)["GREENLIGHT_SMTP_URL"] ?? ""))
        #expect(services[smtp.host ?? ""] != nil, "no SMTP service \(smtp.host ?? "")")
        let brokers = environment(services["intake"]!)["GREENLIGHT_KAFKA_BROKERS"] ?? ""
        let kafka = try #require(services["kafka"])
        #expect(environment(kafka)["KAFKA_ADVERTISED_LISTENERS"]?.contains("//\(brokers)") == true)
        let database = try #require(URLComponents(string: environment(services["intake"]!)["GREENLIGHT_DATABASE_URL"] ?? ""))
        let postgres = environment(try #require(services[database.host ?? ""]))
        #expect(postgres["POSTGRES_USER"] == database.user)
        #expect(postgres["POSTGRES_PASSWORD"] == database.password)
        #expect(postgres["POSTGRES_DB"] == database.path.trimmingCharacters(in: CharacterSet(charactersIn: "/")))
    }

    @Test func theTopicStepCreatesEveryTopic() throws {
        let text = try String(contentsOf: Self.file, encoding: .utf8)
        for topic in Topic.allCases {
            #expect(text.contains(" \(topic.rawValue)"), "docker-compose.yml does not create \(topic.rawValue)")
        }
    }
}
