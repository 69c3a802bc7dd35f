import Crypto
import GreenlightModels
import ServiceSupport
import Testing

/// `GREENLIGHT_API_KEYS`: named, scoped keys, kept as digests; bare secrets as before; every mistake named.
struct APIKeysTests {
    @Test func namedScopedKeysAndBareSecrets() throws {
        let digest = Hex.encode(SHA256.hash(data: Array("hashed-secret-0123456789".utf8)))
        let keys = try APIKeys.parse(
            "ci:submit+read:ci-secret-0123456789, legacy-secret-0123456789\nops:admin:sha256:\(digest)\n# a comment\n")
        #expect(keys.map(\.name).first == "ci")
        #expect(keys[0].scopes == [.submit, .read])
        #expect(keys[0].allows(.read) && !keys[0].allows(.decide))
        // A bare secret may do everything, under a name derived from its digest (stable, and no part of the secret).
        #expect(keys[1].name.hasPrefix("key-") && keys[1].name.count == 12)
        #expect(!keys[1].name.contains("legacy"))
        #expect(APIScope.allCases.allSatisfy { keys[1].allows($0) })
        #expect(try APIKeys.parse("legacy-secret-0123456789")[0].name == keys[1].name)
        // admin allows every scope; a key given as its digest matches its secret.
        #expect(APIScope.allCases.allSatisfy { keys[2].allows($0) })
        #expect(keys[2] == APIKey(name: "ops", scopes: [.admin], secret: "hashed-secret-0123456789"))
        #expect(keys[0] == APIKey(name: "ci", scopes: [.submit, .read], secret: "ci-secret-0123456789"))
    }

    @Test func everyMistakeIsNamed() {
        func problems(_ text: String) -> String {
            do {
                _ = try APIKeys.parse(text)
                return ""
            } catch {
                return error.description
            }
        }
        #expect(problems("short").contains("entry 1 is a secret of 5 characters"))
        #expect(problems("ci:submit:short").contains("entry 1: its secret has 5 characters"))
        #expect(problems("ci:write:ci-secret-0123456789").contains("entry 1: the part between the colons names something that is not a scope"))
        #expect(problems("c i:submit:ci-secret-0123456789").contains("entry 1: its name"))
        #expect(problems("ci:submit:sha256:abc").contains("64 hex digits"))
        #expect(problems("a:b").contains("neither a bare secret nor name:scope+scope:secret"))
        #expect(problems("ci:submit:ci-secret-0123456789,ci:read:other-secret-0123456789").contains("names the key \"ci\" 2 times"))
        #expect(problems("a:submit:same-secret-0123456789,b:read:same-secret-0123456789").contains("the same secret twice"))
        // Secrets never appear in what is reported, even in an entry whose parts are swapped.
        #expect(!problems("ci:write:ci-secret-0123456789").contains("ci-secret"))
        #expect(!problems("ci:swapped-secret-0123456789:submit").contains("swapped-secret"))
        #expect(!problems("swapped-secret-0123456789:submit:ci").contains("swapped-secret"))
    }

    @Test func intakeNeedsAKeyUnlessDeliberatelyOpen() {
        var reader = EnvironmentReader([:])
        _ = APIKeys.read(&reader, requireKeys: true)
        #expect(reader.problems.contains { $0.contains("GREENLIGHT_API_KEYS is empty") && $0.contains("GREENLIGHT_INTAKE_AUTH=none") })
        var open = EnvironmentReader(["GREENLIGHT_INTAKE_AUTH": "none"])
        #expect(APIKeys.read(&open, requireKeys: true).open)
        #expect(open.problems.isEmpty)
        // A keys file holding only comments is no key at all.
        var comments = EnvironmentReader(["GREENLIGHT_API_KEYS": "# nothing here yet"])
        _ = APIKeys.read(&comments, requireKeys: true)
        #expect(comments.problems.contains { $0.contains("GREENLIGHT_API_KEYS is empty") })
        var typo = EnvironmentReader(["GREENLIGHT_INTAKE_AUTH": "off", "GREENLIGHT_API_KEYS": "k-0123456789abcdef"])
        _ = APIKeys.read(&typo, requireKeys: true)
        #expect(typo.problems.contains { $0.contains("GREENLIGHT_INTAKE_AUTH must be keys") })
        // The callback receiver's program API is optional: no keys, no problem (and the API answers 401).
        var callbacks = EnvironmentReader([:])
        #expect(APIKeys.read(&callbacks, requireKeys: false).keys.isEmpty)
        #expect(callbacks.problems.isEmpty)
    }
}
