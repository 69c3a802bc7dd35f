import Callbacks
import Foundation
import Logging
import ServiceSupport

let configuration: CallbacksConfiguration
do {
    configuration = try CallbacksConfiguration.load(ProcessInfo.processInfo.environment)
} catch {
    ServiceRunner.exitForBadConfiguration(error, service: "greenlight-callbacks")
}
GreenlightLogging.bootstrap(configuration.common)
GreenlightMetrics.bootstrap()
try await CallbacksService.run(configuration: configuration, logger: Logger(label: "greenlight-callbacks"))
