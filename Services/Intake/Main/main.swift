import Intake
import ServiceSupport

try await ServiceMain.run(
    "greenlight-intake", load: IntakeConfiguration.load, common: \.common, run: IntakeService.run(configuration:logger:))
