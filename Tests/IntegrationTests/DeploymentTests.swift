import FlowgateApp
import Foundation
import XCTest

/// `ops/install` into a staged root, and its service unit checked by `systemd-analyze verify`
/// (where the machine has it): the unit must load without a warning.
final class DeploymentTests: XCTestCase {
    func testInstallStagesTheBinarySQLAndAUnitThatVerifies() throws {
        let ops = try XCTUnwrap(TestStack.opsDirectory)
        let root = NSTemporaryDirectory() + "flowgate-install-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let install = try Spawn.run(ops + "/install", ["--root", root, "--no-build"], environment: ProcessInfo.processInfo.environment)
        XCTAssertEqual(install.status, 0, install.output)
        let binary = root + "/usr/local/bin/flowgate"
        XCTAssertEqual(
            try Spawn.run(binary, ["--version"], environment: [:]).output.trimmingCharacters(in: .whitespacesAndNewlines),
            Configuration.version)
        let files = FileManager.default
        XCTAssertTrue(files.fileExists(atPath: root + "/usr/local/share/flowgate/sql/migrations/0001_accounts.sql"))
        let environmentFile = try files.attributesOfItem(atPath: root + "/etc/flowgate/flowgate.env")
        XCTAssertEqual((environmentFile[.posixPermissions] as? NSNumber)?.intValue, 0o640, "the settings are not world-readable")
        let again = try Spawn.run(ops + "/install", ["--root", root, "--no-build"], environment: ProcessInfo.processInfo.environment)
        XCTAssertEqual(again.status, 0, "installing again is safe: \(again.output)")

        let analyze = "/usr/bin/systemd-analyze"
        guard files.isExecutableFile(atPath: analyze) else { throw XCTSkip("systemd-analyze is not installed here") }
        // The unit names the installed path; point it at the staged binary and verify it as it would load.
        let unitDirectory = root + "/verify"
        try files.createDirectory(atPath: unitDirectory, withIntermediateDirectories: true)
        let unit = try String(contentsOfFile: root + "/etc/systemd/system/flowgate@.service", encoding: .utf8)
        try unit.replacingOccurrences(of: "/usr/local/bin/flowgate", with: binary)
            .write(toFile: unitDirectory + "/flowgate@.service", atomically: true, encoding: .utf8)
        let verified = try Spawn.run(analyze, ["verify", "--man=no", unitDirectory + "/flowgate@1.service"], environment: [:])
        XCTAssertEqual(verified.status, 0, verified.output)
        XCTAssertEqual(verified.output.trimmingCharacters(in: .whitespacesAndNewlines), "", "no warning")
        for hardening in ["NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "CapabilityBoundingSet=\n"] {
            XCTAssertTrue(unit.contains(hardening), hardening)
        }
    }
}
