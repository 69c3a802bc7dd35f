import Foundation
import Logging
import Orchestrator
import ServiceSupport

let configuration: OrchestratorConfiguration
do {
    configuration = try OrchestratorConfiguration.load(ProcessInfo.processInfo.environment)
} catch {
    ServiceRunner.exitForBadConfiguration(error, service: "greenlight-orchestrator")
}
GreenlightLogging.bootstrap(configuration.common)
GreenlightMetrics.bootstrap()
try await OrchestratorService.run(configuration: configuration, logger: Logger(label: "greenlight-orchestrator"))
