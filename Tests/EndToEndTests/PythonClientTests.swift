import Foundation
import GreenlightTestSupport
import Testing

/// The Python client (clients/python) installed with pip into a fresh virtual environment, offline, and its own
/// unittest suite run against the running services: the four operations, typed errors, the long-poll, a signed
/// webhook verified by a receiver, and the README's agent example run as an agent runs it.
@Suite(.timeLimit(.minutes(5)))
struct PythonClientTests {
    static let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../clients/python").standardized.path
    /// Every test module of the package; fewer tests run means discovery lost some.
    static let expectedTests = 23

    @Test func thePackageInstallsWithPipAndItsTestsPassAgainstTheRunningServices() async throws {
        let work = TestEnvironment.scratchPath(TestEnvironment.uniqueName("greenlight-python"))
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let python = try await PythonEnvironment.install(package: Self.package, into: work)

        let callbackSecret = "whsec_" + Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        try await ServiceStack.with(
            environment: ["GREENLIGHT_CALLBACK_SECRET": callbackSecret, "GREENLIGHT_CALLBACK_ALLOW_PRIVATE": "true"]
        ) { stack in
            // From the copy's folder, where `greenlight_client` is not a source folder: the tests import the installed package.
            let log = "\(stack.logDirectory)/python-tests.log"
            let run = try await ChildProcess(
                name: "python-tests", executable: "/bin/sh",
                arguments: ["-c", "cd \"$1\" && exec \"$2\" -m unittest discover -v -s tests -t .", "sh", python.source, python.interpreter],
                environment: [
                    "GREENLIGHT_INTAKE_URL": stack.intakeURL, "GREENLIGHT_API_KEY": try #require(stack.apiSecret),
                    "GREENLIGHT_TEST_CALLBACK_SECRET": callbackSecret, "PYTHONDONTWRITEBYTECODE": "1",
                ],
                logPath: log)
            let status = await run.waitForExit()
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            #expect(status == 0, "python -m unittest exited \(status):\n\(output)")
            let ran = output.split(separator: "\n").first { $0.hasPrefix("Ran ") }.flatMap { Int($0.split(separator: " ")[1]) }
            #expect((ran ?? 0) >= Self.expectedTests, "expected at least \(Self.expectedTests) tests to run:\n\(output)")
            #expect(output.contains("\nOK"), "\(output)")
        }
    }
}

/// A virtual environment with one package installed by pip from a copy of its folder (pip builds in the folder it is
/// given, and the source tree stays clean). Debian's setuptools and wheel build it, so nothing is downloaded.
struct PythonEnvironment {
    var interpreter: String
    /// The copy of the package's folder (its tests and examples are there).
    var source: String

    static func install(package: String, into work: String) async throws -> PythonEnvironment {
        let source = "\(work)/source"
        let environment = "\(work)/venv"
        let log = "\(work)/install.log"
        let status = try await ChildProcess.shell(
            """
            set -e
            cp -R '\(package)' '\(source)'
            rm -rf '\(source)/build' '\(source)'/src/*.egg-info
            /usr/bin/python3 -m venv --without-pip --system-site-packages '\(environment)'
            '\(environment)/bin/python' -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-index '\(source)'
            '\(environment)/bin/python' -m pip show greenlight-client
            """,
            logPath: log)
        guard status == 0 else {
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw ChildProcessError(
                description: "pip could not install clients/python (scripts/install-deps installs python3-venv, python3-setuptools and python3-wheel):\n\(output)")
        }
        return PythonEnvironment(interpreter: "\(environment)/bin/python", source: source)
    }
}
