import Callbacks
import ServiceSupport

try await ServiceMain.run(
    "greenlight-callbacks", load: CallbacksConfiguration.load, common: \.common, run: CallbacksService.run(configuration:logger:))
