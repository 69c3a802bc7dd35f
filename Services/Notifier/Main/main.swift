import Foundation
import Logging
import Notifier
import ServiceSupport

let configuration: NotifierConfiguration
do {
    configuration = try NotifierConfiguration.load(ProcessInfo.processInfo.environment)
} catch {
    ServiceRunner.exitForBadConfiguration(error, service: "greenlight-notifier")
}
GreenlightLogging.bootstrap(configuration.common)
GreenlightMetrics.bootstrap()
try await NotifierService.run(configuration: configuration, logger: Logger(label: "greenlight-notifier"))
