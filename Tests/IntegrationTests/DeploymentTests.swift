import FlowgateApp
import Foundation
import XCTest

/// `ops/install` into a staged root: its nginx site checked by `nginx -t`, and its service unit
/// by `systemd-analyze verify` (where the machine has it): the unit must load without a warning.
final class DeploymentTests: XCTestCase {
    func testInstallStagesTheBinarySQLASiteAndAUnitThatVerify() throws {
        let ops = try XCTUnwrap(TestStack.opsDirectory)
        let root = NSTemporaryDirectory() + "flowgate-install-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        var environment = ProcessInfo.processInfo.environment
        environment["FLOWGATE_NGINX_LOG_DIR"] = root + "/log"
        let install = try Spawn.run(ops + "/install", ["--root", root, "--no-build"], environment: environment)
        XCTAssertEqual(install.status, 0, install.output)
        let binary = root + "/usr/local/bin/flowgate"
        XCTAssertEqual(
            try Spawn.run(binary, ["--version"], environment: [:]).output.trimmingCharacters(in: .whitespacesAndNewlines),
            Configuration.version)
        let files = FileManager.default
        XCTAssertTrue(files.fileExists(atPath: root + "/usr/local/share/flowgate/sql/migrations/0001_accounts.sql"))
        let environmentFile = try files.attributesOfItem(atPath: root + "/etc/flowgate/flowgate.env")
        XCTAssertEqual((environmentFile[.posixPermissions] as? NSNumber)?.intValue, 0o640, "the settings are not world-readable")
        let again = try Spawn.run(ops + "/install", ["--root", root, "--no-build"], environment: environment)
        XCTAssertEqual(again.status, 0, "installing again is safe: \(again.output)")

        // The system nginx's site: the instances' systemd sockets, checked by nginx itself
        // inside an http block as nginx.conf's sites-enabled include puts it.
        let site = try String(contentsOfFile: root + "/etc/nginx/sites-available/flowgate", encoding: .utf8)
        for line in [
            "server unix:/run/flowgate/1/fcgi.sock", "server unix:/run/flowgate/2/fcgi.sock", "server unix:/run/flowgate/2/ws.sock",
            "fastcgi_pass unix:/run/flowgate/$1/fcgi.sock;", "listen 80;",
            "access_log \(root)/log/nginx-access.log flowgate buffer=64k flush=1s;",
        ] {
            XCTAssertTrue(site.contains(line), line)
        }
        XCTAssertNil(site.firstMatch(of: /@[A-Z_]+@/), "every placeholder is filled")
        try files.createDirectory(atPath: root + "/log", withIntermediateDirectories: true)
        try """
        pid \(root)/nginx.pid;
        error_log \(root)/log/error.log;
        events {}
        http {
            client_body_temp_path \(root)/tmp;
            include \(root)/etc/nginx/sites-available/flowgate;
        }
        """.write(toFile: root + "/nginx.conf", atomically: true, encoding: .utf8)
        let checked = try Spawn.run(
            "/usr/sbin/nginx", ["-t", "-q", "-p", root, "-c", root + "/nginx.conf", "-e", root + "/log/error.log"], environment: [:])
        XCTAssertEqual(checked.status, 0, checked.output)

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
