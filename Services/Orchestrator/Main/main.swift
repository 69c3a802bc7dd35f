import Orchestrator
import ServiceSupport

try await ServiceMain.run(
    "greenlight-orchestrator", load: OrchestratorConfiguration.load, common: \.common, run: OrchestratorService.run(configuration:logger:))
