import Foundation
import Intake
import Logging
import ServiceSupport

let configuration: IntakeConfiguration
do {
    configuration = try IntakeConfiguration.load(ProcessInfo.processInfo.environment)
} catch {
    ServiceRunner.exitForBadConfiguration(error, service: "greenlight-intake")
}
GreenlightLogging.bootstrap(configuration.common)
GreenlightMetrics.bootstrap()
try await IntakeService.run(configuration: configuration, logger: Logger(label: "greenlight-intake"))
