import ArgumentParser
import Foundation
import Kafka
import ServiceSupport

/// Where the services are. Each option falls back to the environment variable the services themselves read.
public struct ConnectionOptions: ParsableArguments {
    @Option(name: .customLong("intake-url"), help: "Intake's base URL (default: $GREENLIGHT_INTAKE_URL or http://127.0.0.1:8080).")
    var intakeURLOption: String?

    @Option(name: .customLong("api-key"), help: "An API key from intake's GREENLIGHT_API_KEYS (default: $GREENLIGHT_API_KEY).")
    var apiKeyOption: String?

    @Option(name: .customLong("kafka-brokers"), help: "Kafka bootstrap servers, for dlq commands (default: $GREENLIGHT_KAFKA_BROKERS or 127.0.0.1:9092).")
    var kafkaBrokersOption: String?

    public init() {}

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    var intakeURL: String {
        let url = intakeURLOption ?? environment["GREENLIGHT_INTAKE_URL"] ?? "http://127.0.0.1:8080"
        return url.hasSuffix("/") ? String(url.dropLast()) : url
    }

    var apiKey: String? { (apiKeyOption ?? environment["GREENLIGHT_API_KEY"]).flatMap { $0.isEmpty ? nil : $0 } }

    /// The brokers, with the same security settings and passed-through properties as the services
    /// (`GREENLIGHT_KAFKA_SECURITY_PROTOCOL`, `GREENLIGHT_KAFKA_SASL_*`, `GREENLIGHT_KAFKA_PROPERTY_*`…).
    var kafka: KafkaConfiguration {
        get throws {
            let settings: [String: String]
            do {
                settings = try KafkaClientSettings.fromEnvironment(environment)
            } catch {
                throw CLIError(.misconfigured, "\(error)")
            }
            return KafkaConfiguration(
                bootstrapServers: kafkaBrokersOption ?? environment["GREENLIGHT_KAFKA_BROKERS"] ?? "127.0.0.1:9092",
                clientId: "greenlight-cli",
                // An operator tool should fail fast rather than wait out librdkafka's default of five minutes.
                properties: ["message.timeout.ms": "15000", "socket.timeout.ms": "10000"].merging(settings) { _, set in set })
        }
    }

    func client() -> IntakeClient { IntakeClient(baseURL: intakeURL, apiKey: apiKey) }
}

/// `--json`: print the service's answer as JSON for scripts instead of a table.
public struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    public init() {}
}

/// Durations such as `90s`, `30m`, `1h`, `2d` (a bare number is seconds).
struct DurationArgument: ExpressibleByArgument {
    var seconds: Int

    init?(argument: String) {
        let text = argument.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        if let last = text.last, let unit = units[last], let value = Int(text.dropLast()), value >= 0 {
            seconds = value * unit
        } else if let value = Int(text), value >= 0 {
            seconds = value
        } else {
            return nil
        }
    }
}
