import Foundation
import JSON
import XCTest

/// Migrations expand, then contract (ARCHITECTURE.md): during a rolling upgrade the instances of
/// the release before a migration serve the schema it made. Checked on the real thing: the
/// commit before the newest migration is built from the repository's history, run as both
/// instances against the migrated database, and smoke-tested on every surface through nginx.
final class UpgradeTests: XCTestCase {
    func testThePreviousCommitsInstancesServeTheMigratedSchema() throws {
        let ops = try XCTUnwrap(TestStack.opsDirectory)
        let repository = URL(fileURLWithPath: ops).deletingLastPathComponent().path
        let environment = ProcessInfo.processInfo.environment
        let added = try Spawn.run(
            "/usr/bin/git", ["-C", repository, "log", "--diff-filter=A", "--format=%H", "-1", "--", "sql/migrations"],
            environment: environment)
        let migration = added.output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard added.status == 0, !migration.isEmpty,
            try Spawn.run("/usr/bin/git", ["-C", repository, "cat-file", "-e", migration + "^"], environment: environment).status == 0
        else { throw XCTSkip("no history before the newest migration in this checkout: \(added.output)") }

        let source = NSTemporaryDirectory() + "flowgate-previous-\(migration.prefix(12))"
        defer { try? FileManager.default.removeItem(atPath: source) }
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        let unpacked = try Spawn.run(
            "/bin/sh", ["-c", "git -C \"$0\" archive \"$1\" | tar -x -C \"$2\"", repository, migration + "^", source],
            environment: environment)
        XCTAssertEqual(unpacked.status, 0, unpacked.output)
        // A debug build, in its own scratch directory (this test run holds the repository's).
        let built = try Spawn.run(
            "/usr/bin/env", ["swift", "build", "--package-path", source, "--product", "flowgate"], environment: environment)
        XCTAssertEqual(built.status, 0, String(built.output.suffix(4000)))
        let binary = URL(fileURLWithPath: source + "/.build/debug/flowgate").resolvingSymlinksInPath().path
        _ = try Spawn.run("/bin/chmod", ["-R", "go+rX", source], environment: [:])

        defer { TestStack.restoreInstances() }
        for n in ["1", "2"] {
            XCTAssertEqual(try TestStack.ctl("stop-instance", n).status, 0)
            let started = try TestStack.ctl(["start-instance", n], environment: ["FLOWGATE_BIN": binary])
            XCTAssertEqual(started.status, 0, started.output)
            try TestStack.waitUntilServing("flowgate-\(n)")
            let pid = try XCTUnwrap(Int32(try TestStack.ctl("instance-pid", n).output.trimmingCharacters(in: .whitespacesAndNewlines)))
            XCTAssertEqual(
                try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe"), binary, "instance \(n) runs the old build")
        }
        try smokeTestEverySurface()
        for n in ["1", "2"] { XCTAssertEqual(try TestStack.ctl("stop-instance", n).status, 0) }
    }

    /// Reads and writes of each surface, and a job the old runners run to its end.
    func smokeTestEverySurface() throws {
        let client = try TestStack.client()
        let admin = try TestStack.adminToken()
        for _ in 0..<4 {
            XCTAssertEqual(try client.get("/flowgate/v1/health").status, 200)
            XCTAssertEqual(try client.get("/flowgate/v1/whoami", token: admin).status, 200)
        }
        let workspace = try client.postJSON(
            "/v6/workspaces/", ["name": .string("upgrade-\(UUID().uuidString.prefix(8).lowercased())")], token: admin)
        XCTAssertEqual(workspace.status, 201, workspace.text)
        XCTAssertEqual(try client.get("/v6/jobs/?page_size=5", token: admin).status, 200)
        XCTAssertTrue([200, 204].contains(try client.postJSON("/v6/jobs/claim/", [:], token: admin).status))

        let it = try ItentialFixture()
        let workflow = try it.workflow(
            [("a1", ItentialFixture.stub())],
            [("workflow_start", ["a1": ItentialFixture.success]), ("a1", ["workflow_end": ItentialFixture.success])])
        let job = try XCTUnwrap(it.start(workflow)["_id"]?.stringValue)
        XCTAssertEqual(try it.job(job, until: ["complete", "error"])["status"], "complete", "the old runner ran it")
        let searched = try client.get("/operations-manager/jobs?equals[name]=\(workflow)", token: admin)
        XCTAssertEqual(searched.json?["metadata"]?["total"], 1, searched.text)

        let blocks = try BlocksUser.register("upgrade")
        XCTAssertEqual(try blocks.finished(try blocks.scheduled(Graphs.binary("Addition", "1", "2")))["status"], "COMPLETED")

        let wm = try WorkflowManagerItem.make()
        let step = try wm.job([WorkflowManagerItem.step("a")])
        XCTAssertEqual(try wm.act(step, ["type": "Run", "stepIds": ["a"]]).status, 200)
    }
}
