import Notifier
import ServiceSupport

try await ServiceMain.run(
    "greenlight-notifier", load: NotifierConfiguration.load, common: \.common, run: NotifierService.run(configuration:logger:))
