import ServiceSupport
import Testing

/// The resolver the notifier checks callback hosts with: the system's answer, numeric, off the cooperative pool.
struct HostResolverTests {
    @Test func namesAndLiteralsResolveToNumericAddresses() async throws {
        let local = try await HostResolver.addresses(of: "localhost")
        #expect(!local.isEmpty && local.allSatisfy { $0 == "127.0.0.1" || $0 == "::1" }, "\(local)")
        // The other forms of an address come back in the form the guard reads.
        #expect(try await HostResolver.addresses(of: "2130706433") == ["127.0.0.1"])
        #expect(try await HostResolver.addresses(of: "[::1]") == ["::1"])
    }

    @Test func aNameThatDoesNotResolveIsAnErrorNamingIt() async {
        await #expect {
            try await HostResolver.addresses(of: "no-such-host.invalid")
        } throws: { error in
            "\(error)".contains("no-such-host.invalid")
        }
    }
}
