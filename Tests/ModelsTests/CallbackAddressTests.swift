import GreenlightModels
import Testing

/// The guard that keeps outcome webhooks out of Greenlight's own network.
struct CallbackAddressTests {
    @Test(arguments: [
        "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
        "100.64.0.1", "100.127.255.255", "0.0.0.0", "224.0.0.1", "255.255.255.255",
        // The shorter and other-base forms a resolver reads as the same addresses.
        "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "0xa9.0xfe.0xa9.0xfe",
        "::1", "::", "fc00::1", "fd12:3456::1", "fe80::1", "fe80::1%eth0", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
        "::ffff:7f00:1", "64:ff9b::10.0.0.1", "ff02::1", "0:0:0:0:0:0:0:1",
    ])
    func privateAndSpecialAddressesAreRefused(_ address: String) {
        #expect(CallbackAddress.refusal(address: address) != nil, "\(address)")
    }

    @Test(arguments: ["93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1", "192.169.0.1", "2606:4700::1111", "::ffff:8.8.8.8"])
    func publicAddressesPass(_ address: String) {
        #expect(CallbackAddress.refusal(address: address) == nil, "\(address)")
    }

    @Test func urlsAreJudgedByTheirHost() {
        #expect(CallbackAddress.refusal(url: "https://hooks.example.com/greenlight", allowPrivate: false) == nil)
        #expect(CallbackAddress.refusal(url: "https://93.184.216.34:8443/x", allowPrivate: false) == nil)
        for url in [
            "http://localhost:8080/hook", "http://LOCALHOST./hook", "http://api.localhost/hook", "http://127.0.0.1/hook",
            "http://[::1]:9000/hook", "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://10.0.0.5/",
        ] {
            let reason = CallbackAddress.refusal(url: url, allowPrivate: false)
            #expect(reason != nil, "\(url)")
            // Allowed where the deployment says so (tests, a private network).
            #expect(CallbackAddress.refusal(url: url, allowPrivate: true) == nil, "\(url)")
        }
        for url in ["ftp://example.com/x", "example.com/hook", "https://", "file:///etc/passwd", "https://user:pw@example.com/"] {
            #expect(CallbackAddress.refusal(url: url, allowPrivate: true) != nil, "\(url)")
        }
        // Names are not resolved here: the notifier checks what they resolve to.
        #expect(CallbackAddress.refusal(host: "internal.example") == nil)
    }
}
