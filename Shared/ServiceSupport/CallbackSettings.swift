import GreenlightModels

/// `GREENLIGHT_CALLBACK_ALLOW_PRIVATE`: whether outcome webhooks may go to private, loopback and link-local
/// addresses (tests, a deployment inside a private network). Intake and the notifier read it.
public func readCallbackAllowPrivate(_ reader: inout EnvironmentReader) -> Bool {
    reader.bool("GREENLIGHT_CALLBACK_ALLOW_PRIVATE", default: false)
}

/// `GREENLIGHT_CALLBACK_MAX_AGE_SECONDS`: how long an outcome webhook is retried before it fails for good.
public func readCallbackMaxAge(_ reader: inout EnvironmentReader) -> Int {
    reader.int("GREENLIGHT_CALLBACK_MAX_AGE_SECONDS", default: 86_400, range: 60...2_592_000)
}

/// `GREENLIGHT_CALLBACK_SECRET`: the deployment's `whsec_<base64>` signing secret (never printed); nil when unset.
public func readCallbackSecret(_ reader: inout EnvironmentReader) -> String? {
    guard let secret = reader.optional("GREENLIGHT_CALLBACK_SECRET", secret: true), !secret.isEmpty else { return nil }
    do {
        _ = try StandardWebhook(secret: secret, setting: "GREENLIGHT_CALLBACK_SECRET")
    } catch {
        reader.report("\(error)")
    }
    return secret
}
