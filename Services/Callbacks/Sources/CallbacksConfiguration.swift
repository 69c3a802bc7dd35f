import Postgres
import ServiceSupport

/// The callback receiver's settings, from `GREENLIGHT_*` environment variables.
public struct CallbacksConfiguration: Sendable {
    public var common: CommonConfiguration
    public var database: PostgresConfiguration
    /// The base of the links in emails: the address people reach this service at.
    public var publicURL: String
    public var apiKeys: APIKeys
    public var banner: String

    public static func load(_ environment: [String: String]) throws -> CallbacksConfiguration {
        var reader = EnvironmentReader(environment)
        let common = CommonConfiguration.read(&reader, service: "greenlight-callbacks", defaultPort: 8081)
        let database = readDatabaseConfiguration(&reader)
        let publicURL = reader.httpURL("GREENLIGHT_PUBLIC_URL", default: "http://127.0.0.1:8081")
        let apiKeys = APIKeys.read(&reader)
        try reader.validate()
        return CallbacksConfiguration(
            common: common, database: database!, publicURL: publicURL, apiKeys: apiKeys, banner: reader.banner)
    }
}
