import Intake
import ServiceSupport
import Testing

/// `GREENLIGHT_MAX_OUTCOME_WAITERS`: how many long-polls one intake holds at once.
struct LongPollSettingsTests {
    static let keys = ["GREENLIGHT_API_KEYS": "long-poll-tests-key-0123456789"]

    func intake(_ extra: [String: String]) throws -> IntakeConfiguration {
        try IntakeConfiguration.load(Self.keys.merging(extra) { _, new in new })
    }

    @Test func theNumberOfLongPollsIsBoundedBySetting() throws {
        #expect(try intake([:]).maxOutcomeWaiters == 1000)
        #expect(try intake(["GREENLIGHT_MAX_OUTCOME_WAITERS": "5"]).maxOutcomeWaiters == 5)
        for bad in ["0", "100001", "many"] {
            #expect { try intake(["GREENLIGHT_MAX_OUTCOME_WAITERS": bad]) } throws: {
                "\($0)".contains("GREENLIGHT_MAX_OUTCOME_WAITERS")
            }
        }
    }
}
