/// Headers a message that a workflow emits carries besides its trace's `traceparent` (CloudEvents' `ce_*`, say):
/// given the topic and the event as it is emitted, and kept with it in the outbox. An empty answer adds nothing.
public typealias MessageHeaders = @Sendable (_ topic: String, _ event: any Encodable) -> [String: String]
