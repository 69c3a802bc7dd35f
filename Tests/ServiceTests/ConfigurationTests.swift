import Callbacks
import Intake
import Notifier
import Orchestrator
import ServiceSupport
import Testing

struct ConfigurationTests {
    @Test func defaultsAreUsableForLocalRuns() throws {
        let intake = try IntakeConfiguration.load([:])
        #expect(intake.common.httpPort == 8080)
        #expect(intake.common.kafka.bootstrapServers == "127.0.0.1:9092")
        #expect(intake.defaultApprover == "approver@example.com")
        #expect(try CallbacksConfiguration.load([:]).common.httpPort == 8081)
        #expect(try OrchestratorConfiguration.load([:]).common.httpPort == 8082)
        #expect(try NotifierConfiguration.load([:]).publicURL == "http://127.0.0.1:8081")
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

    @Test func secretsAreMaskedInTheStartupBanner() throws {
        let notifier = try NotifierConfiguration.load(["GREENLIGHT_SMTP_URL": "smtp://u:hunter2@mail:587?tls=starttls"])
        #expect(!notifier.banner.contains("hunter2"))
        let intake = try IntakeConfiguration.load(["GREENLIGHT_DATABASE_URL": "postgresql://u:hunter2@db:5432/g"])
        #expect(!intake.banner.contains("hunter2"))
        #expect(intake.banner.contains("postgresql://u:***@db:5432/g"))
    }
}
