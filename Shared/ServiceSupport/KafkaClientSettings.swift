import Foundation
import Kafka

/// How every Kafka client of Greenlight (the four services, the operator CLI, the load generator) reaches the
/// brokers: TLS and SASL settings, and any other librdkafka property passed through as
/// `GREENLIGHT_KAFKA_PROPERTY_<name>` (the property's dots written as underscores, e.g.
/// `GREENLIGHT_KAFKA_PROPERTY_socket_connection_setup_timeout_ms=5000`). Every property is checked with librdkafka
/// when read, so a bad one is reported with the setting that gave it.
public enum KafkaClientSettings {
    public static let propertyPrefix = "GREENLIGHT_KAFKA_PROPERTY_"
    static let protocols = ["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"]
    static let mechanisms = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

    /// The librdkafka properties the settings make, for `KafkaConfiguration.properties`.
    public static func read(_ reader: inout EnvironmentReader) -> [String: String] {
        // (property, value, the setting it came from)
        var chosen: [(property: String, value: String, setting: String, secret: Bool)] = []
        let protocolText = reader.string("GREENLIGHT_KAFKA_SECURITY_PROTOCOL", default: "plaintext").lowercased()
        guard protocols.contains(protocolText) else {
            reader.report(
                "GREENLIGHT_KAFKA_SECURITY_PROTOCOL must be one of \(protocols.joined(separator: ", ")), not \"\(protocolText)\"")
            return [:]
        }
        if protocolText != "plaintext" {
            chosen.append(("security.protocol", protocolText, "GREENLIGHT_KAFKA_SECURITY_PROTOCOL", false))
        }
        if protocolText.hasPrefix("sasl") {
            let mechanism = reader.string("GREENLIGHT_KAFKA_SASL_MECHANISM", default: "SCRAM-SHA-512").uppercased()
            if !mechanisms.contains(mechanism) {
                reader.report(
                    "GREENLIGHT_KAFKA_SASL_MECHANISM must be one of \(mechanisms.joined(separator: ", ")), not \"\(mechanism)\"")
            }
            let username = reader.required("GREENLIGHT_KAFKA_SASL_USERNAME", example: "greenlight-orchestrator")
            let password = reader.string("GREENLIGHT_KAFKA_SASL_PASSWORD", default: "", secret: true)
            if password.isEmpty {
                reader.report(
                    "GREENLIGHT_KAFKA_SASL_PASSWORD (or GREENLIGHT_KAFKA_SASL_PASSWORD_FILE) is required with "
                        + "GREENLIGHT_KAFKA_SECURITY_PROTOCOL=\(protocolText)")
            }
            chosen += [
                ("sasl.mechanisms", mechanism, "GREENLIGHT_KAFKA_SASL_MECHANISM", false),
                ("sasl.username", username, "GREENLIGHT_KAFKA_SASL_USERNAME", false),
                ("sasl.password", password, "GREENLIGHT_KAFKA_SASL_PASSWORD", true),
            ]
        }
        if protocolText.hasSuffix("ssl") {
            // Without a CA file, the system's trusted certificates verify the brokers.
            for (setting, property) in [
                ("GREENLIGHT_KAFKA_SSL_CA_LOCATION", "ssl.ca.location"),
                ("GREENLIGHT_KAFKA_SSL_CERTIFICATE_LOCATION", "ssl.certificate.location"),
                ("GREENLIGHT_KAFKA_SSL_KEY_LOCATION", "ssl.key.location"),
            ] {
                let path = reader.string(setting, default: "")
                guard !path.isEmpty else { continue }
                if !FileManager.default.isReadableFile(atPath: path) {
                    reader.report("\(setting) names \"\(path)\", which cannot be read: check the path and its permissions")
                }
                chosen.append((property, path, setting, false))
            }
            let keyPassword = reader.string("GREENLIGHT_KAFKA_SSL_KEY_PASSWORD", default: "", secret: true)
            if !keyPassword.isEmpty { chosen.append(("ssl.key.password", keyPassword, "GREENLIGHT_KAFKA_SSL_KEY_PASSWORD", true)) }
        }
        // Passed through: the settings named with the prefix, whether given directly or as a file.
        let passed = Set(
            reader.values.keys.filter { $0.hasPrefix(propertyPrefix) && $0.count > propertyPrefix.count }
                .map { $0.hasSuffix("_FILE") ? String($0.dropLast("_FILE".count)) : $0 })
        for setting in passed.sorted() {
            let property = setting.dropFirst(propertyPrefix.count).lowercased().replacingOccurrences(of: "_", with: ".")
            let sensitive = ["password", "secret", "key", "jaas", "oauthbearer", "credential", "token"].contains { property.contains($0) }
            let value = reader.string(setting, default: "", secret: sensitive)
            chosen.append((property, value, setting, sensitive))
        }
        var properties: [String: String] = [:]
        for (property, value, setting, secret) in chosen where !value.isEmpty {
            if let problem = KafkaConfiguration.problem(withProperty: property, value: value) {
                // librdkafka's reason can quote the value: not for a secret.
                reader.report("\(setting): librdkafka refuses it (\(secret ? problem.replacingOccurrences(of: value, with: "***") : problem))")
            }
            properties[property] = value
        }
        return properties
    }

    /// For the operator CLI and the load generator: the properties from the process's environment, or a
    /// `ConfigurationError` naming each bad setting.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> [String: String]
    {
        var reader = EnvironmentReader(environment)
        let properties = read(&reader)
        try reader.validate()
        return properties
    }
}
