import Foundation
import JSON
import Postgres
import XCTest

/// Uploaded module code as an attacker writes it, run by a self-registered Blocks user: it
/// must fail with the documented error while Flowgate, other users' jobs and the database stay
/// untouched.
final class HostileModuleTests: XCTestCase {
    /// Runs `body` as a block and returns what it reported with `report(value)`, which raises
    /// `Report(json)` so that the value comes back whole in the block's `stderr`.
    func probe(_ user: BlocksUser, _ body: String) throws -> JSON {
        let block = try user.runBlock(
            """
            import json
            class Report(Exception):
                pass
            def report(value):
                raise Report(json.dumps(value))
            \(body)
            """)
        let stderr = try XCTUnwrap(block["stderr"]?.stringValue, block.serialized)
        let marker = try XCTUnwrap(stderr.range(of: "Report: "), stderr)
        return try JSON.parse(Array(stderr[marker.upperBound...].utf8))
    }

    func instancePIDs() throws -> [String] {
        try (1...2).map { try TestStack.ctl("instance-pid", String($0)).output.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    func testModuleCodeRunsAsNobodyAndSeesNothingOfTheHost() throws {
        let user = try BlocksUser.register("intruder")
        let state = try XCTUnwrap(TestStack.stateDirectory)
        let port = try XCTUnwrap(URLComponents(string: try XCTUnwrap(TestStack.baseURL))?.port)
        let paths = [
            "/etc/shadow", "/etc/passwd", "/root", "/home", "/tmp", "/var", state, state + "/pg", state + "/secrets", state + "/run",
        ]
        let seen = try probe(
            user,
            """
            seen = {'uid': os.getuid(), 'euid': os.geteuid(), 'gid': os.getgid()}
            seen['visible'] = [p for p in \(ModuleArchives.pythonString(paths.joined(separator: "\n"))).split('\\n') if os.path.exists(p)]
            try:
                os.listdir(\(ModuleArchives.pythonString(state)))
                seen['state'] = 'listed'
            except OSError as e:
                seen['state'] = e.errno
            for name, path in [('postgres', \(ModuleArchives.pythonString(state + "/pg/.s.PGSQL.5432"))),
                               ('fastcgi', \(ModuleArchives.pythonString(state + "/run/flowgate-1.sock")))]:
                try:
                    s = socket.socket(socket.AF_UNIX)
                    s.connect(path)
                    seen[name] = 'connected'
                except OSError as e:
                    seen[name] = e.errno
            for name, address in [('nginx', ('127.0.0.1', \(port))), ('internet', ('192.0.2.1', 80))]:
                try:
                    socket.create_connection(address, timeout=2)
                    seen[name] = 'connected'
                except OSError as e:
                    seen[name] = e.errno
            with open('/proc/self/status') as f:
                seen['caps'] = [line.split()[1] for line in f if line.startswith('CapEff')][0]
            seen['processes'] = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
            report(seen)
            """)
        XCTAssertEqual(seen["uid"], 65534)
        XCTAssertEqual(seen["euid"], 65534)
        XCTAssertEqual(seen["gid"], 65534)
        XCTAssertEqual(seen["visible"], [], "host paths the sandbox must not see")
        XCTAssertEqual(seen["state"], 2, "ENOENT: the state directory does not exist in the sandbox")
        XCTAssertEqual(seen["postgres"], 2, "PostgreSQL's socket is not reachable")
        XCTAssertEqual(seen["fastcgi"], 2, "nor is Flowgate's")
        XCTAssertEqual(seen["nginx"], 111, "ECONNREFUSED: the host's loopback is not the sandbox's")
        XCTAssertEqual(seen["internet"], 101, "ENETUNREACH: no network at all")
        XCTAssertEqual(seen["caps"], "0000000000000000")
        XCTAssertEqual(seen["processes"], [1, 2], "a pid namespace of its own: bwrap's init and the block")
    }

    func testTheBlockGetsOnlyStandardDescriptorsAndCannotTouchFlowgatesSocket() throws {
        let user = try BlocksUser.register("intruder")
        let seen = try probe(
            user,
            """
            descriptors = []
            for fd in range(1024):
                try:
                    os.fstat(fd)
                    descriptors.append(fd)
                except OSError:
                    pass
            try:
                socket.socket(fileno=3).accept()
                accepted = 'accepted'
            except OSError as e:
                accepted = e.errno
            report({'descriptors': descriptors, 'accept': accepted})
            """)
        XCTAssertEqual(seen["descriptors"], [0, 1, 2])
        XCTAssertEqual(seen["accept"], 9, "EBADF: no listening socket at fd 3")
    }

    func testKillingItsParentAndAForkBombLeaveFlowgateAndOtherJobsUntouched() throws {
        let before = try instancePIDs()
        let intruder = try BlocksUser.register("intruder")
        let bystander = try BlocksUser.register("bystander")
        let killed = try intruder.runBlock("os.kill(os.getppid(), 9)\nos.kill(1, 9)\nself.output.set_value(os.getppid())")
        XCTAssertEqual(killed["error"], false, killed.serialized)
        XCTAssertEqual(killed["output"]?["value"], "{'output': 1}", "its parent is the sandbox's init, which ignores it")

        let bomb = try intruder.runBlock(
            """
            while True:
                if os.fork() == 0:
                    time.sleep(5)
                    os._exit(0)
            """)
        XCTAssertEqual(bomb["stderr"], "BlockingIOError: [Errno 11] Resource temporarily unavailable")

        let job = try bystander.finished(try bystander.scheduled(["edges": [], "blocks": [Graphs.constant(1, "7")]]))
        XCTAssertEqual(job["status"], "COMPLETED")
        XCTAssertEqual(try instancePIDs(), before, "no instance died")
    }

    func testMemoryOutputAndFilesAreBounded() throws {
        let user = try BlocksUser.register("intruder")
        XCTAssertEqual(try user.runBlock("bytearray(4 << 30)")["stderr"], "MemoryError")
        XCTAssertEqual(try user.runBlock("sys.stdout.write('x' * 100_000_000)")["stderr"], "OSError: the block's output exceeded 16 MiB")
        XCTAssertEqual(try user.runBlock("sys.stderr.write('x' * 100_000_000)")["stderr"], "OSError: the block's output exceeded 16 MiB")
        XCTAssertEqual(try user.runBlock("open('big', 'wb').write(b'0' * (100 << 20))")["stderr"], "OSError: [Errno 27] File too large")
        XCTAssertEqual(
            try user.runBlock(
                """
                for n in range(10):
                    with open(f'part{n}', 'wb') as f:
                        f.write(b'0' * (15 << 20))
                """)["stderr"], "OSError: [Errno 28] No space left on device", "the working directory is a small tmpfs")
        for path in ["/usr/x", "/x", "/dev/x", "/proc/x"] {
            let written = try user.runBlock("open('\(path)', 'w').write('x')")
            XCTAssertTrue(
                written["stderr"]?.stringValue?.hasPrefix("OSError: [Errno 30] Read-only file system") == true
                    || written["stderr"]?.stringValue?.hasPrefix("FileNotFoundError") == true, "\(path): \(written.serialized)")
        }
        let files = try TestStack.database().execute(
            Statement(
                "t_big_files",
                """
                SELECT count(*) FROM files WHERE length(content) > 16 * 1024 * 1024
                """)
        ).first?.int(0)
        XCTAssertEqual(files, 0, "nothing beyond the limits was stored")
    }

    /// Whether any process on the host has `marker` in its command line.
    func processWithMarker(_ marker: String) -> Bool {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.filter { $0.allSatisfy(\.isNumber) } ?? []
        return pids.contains { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data, as: UTF8.self).contains(marker)
        }
    }

    func testNoProcessOutlivesItsJob() throws {
        let user = try BlocksUser.register("intruder")
        let marker = "sleeper-\(UUID().uuidString.prefix(8))"
        let spawn = """
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execv('/usr/bin/python3', ['python3', '-c', 'import time; time.sleep(600)', '\(marker)'])
                os._exit(0)
            time.sleep(0.3)
            """
        let detached = try user.runBlock(spawn + "\nself.output.set_value('left a sleeper')")
        XCTAssertEqual(detached["error"], false, detached.serialized)
        XCTAssertFalse(processWithMarker(marker), "the sleeper survived its job")

        let started = Date()
        let slow = try user.runBlock(spawn + "\ntime.sleep(600)")
        XCTAssertEqual(slow["stderr"], "TimeoutError: the block ran longer than 4 s")
        XCTAssertLessThan(Date().timeIntervalSince(started), 15)
        XCTAssertFalse(processWithMarker(marker), "the sleeper survived the time limit")
    }

    func testTheImportAtUploadIsSandboxedAndShort() throws {
        let user = try BlocksUser.register("intruder")
        let module = "I\(UUID().uuidString.prefix(8))"
        let reading = try user.upload(try ModuleArchives.module(module, files: ["__init__.py": "open('/etc/shadow').read()"]))
        XCTAssertEqual(reading.status, 400)
        XCTAssertEqual(
            reading.json,
            ["error": .string("cannot import module \(module): FileNotFoundError: [Errno 2] No such file or directory: '/etc/shadow'")])

        let started = Date()
        let sleeping = try user.upload(try ModuleArchives.module(module, files: ["__init__.py": "import time\ntime.sleep(600)"]))
        XCTAssertEqual(sleeping.status, 400)
        XCTAssertEqual(sleeping.json, ["error": "TimeoutError: importing the archive's modules took longer than 2 s"])
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "the FastCGI worker is held no longer than the upload limit")
        XCTAssertFalse(try user.post("/api/workflow/initialize", []).text.contains(module), "nothing was stored")
    }

    func testHostileArchivesAreRefusedBeforeAnythingIsStored() throws {
        let user = try BlocksUser.register("intruder")
        let module = "Z\(UUID().uuidString.prefix(8))"
        let initFile = "z.writestr('\(module)/__init__.py', 'string_classobject_mapping = {}')"
        func special(_ name: String, _ type: String, _ content: String = "") -> String {
            """
            i = zipfile.ZipInfo('\(module)/\(name)')
            i.create_system = 3
            i.external_attr = (stat.\(type) | 0o777) << 16
            z.writestr(i, '\(content)')
            """
        }
        let cases: [(String, String)] = [
            ("z.writestr('\(module)/../escape.py', 'x')", "unsafe path in archive: \(module)/../escape.py"),
            ("z.writestr('../escape.py', 'x')", "unsafe path in archive: ../escape.py"),
            ("z.writestr(zipfile.ZipInfo('/etc/cron.d/x'), 'x')", "unsafe path in archive: /etc/cron.d/x"),
            (special("link", "S_IFLNK", "/etc/passwd"), "symbolic link in archive: \(module)/link"),
            (special("fifo", "S_IFIFO"), "special file in archive: \(module)/fifo"),
            (special("device", "S_IFCHR"), "special file in archive: \(module)/device"),
            ("z.writestr('\(module)/zeros', bytes(200 << 20))", "\(module)/zeros is larger than 16 MiB uncompressed"),
            ("for n in range(3):\n    z.writestr(f'\(module)/part{n}', bytes(15 << 20))", "the archive is larger than 32 MiB uncompressed"),
            ("for n in range(1001):\n    z.writestr(f'\(module)/f{n}', '')", "the archive has more than 1000 entries"),
        ]
        let before = try TestStack.database().execute(Statement("t_module_count", "SELECT count(*) FROM files")).first?.int(0)
        for (body, error) in cases {
            let archive = try ModuleArchives.python(initFile + "\n" + body)
            XCTAssertLessThan(archive.count, 1 << 20, "the bomb fits in one request")
            let refused = try user.upload(archive)
            XCTAssertEqual(refused.status, 400, body)
            XCTAssertEqual(refused.json, ["error": .string(error)], body)
        }
        XCTAssertEqual(
            try TestStack.database().execute(Statement("t_module_count", "SELECT count(*) FROM files")).first?.int(0), before,
            "no refused archive stored anything")
        XCTAssertFalse(try user.post("/api/workflow/initialize", []).text.contains(module))
    }
}

/// The processes and the database as an attacker on the host would find them.
final class PrivilegeTests: XCTestCase {
    func testNoFlowgateProcessRunsAsRoot() throws {
        for n in 1...2 {
            let pid = try TestStack.ctl("instance-pid", String(n)).output.trimmingCharacters(in: .whitespacesAndNewlines)
            let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            let uids = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("Uid:") }).split(separator: "\t").dropFirst()
            XCTAssertFalse(uids.contains("0"), "instance \(n) runs with uid 0: \(uids)")
            let capabilities = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("CapEff:") })
            XCTAssertTrue(capabilities.hasSuffix("0000000000000000"), String(capabilities))
        }
    }

    func testTheFastCGISocketsAreNotWorldWritable() throws {
        let state = try XCTUnwrap(TestStack.stateDirectory)
        for n in 1...2 {
            let attributes = try FileManager.default.attributesOfItem(atPath: "\(state)/run/flowgate-\(n).sock")
            XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o660)
        }
        for (directory, mode) in [("pg", 0o700), ("secrets", 0o700), ("run", 0o750)] {
            let attributes = try FileManager.default.attributesOfItem(atPath: "\(state)/\(directory)")
            XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, mode, directory)
        }
    }

    func testAnotherLocalUserReachesNeitherPostgreSQLNorFlowgate() throws {
        guard geteuid() == 0 else { throw XCTSkip("needs root to act as another user") }
        let state = try XCTUnwrap(TestStack.stateDirectory)
        let probe = try Spawn.run(
            "/usr/bin/setpriv",
            [
                "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--",
                "/usr/bin/python3", "-c",
                """
                import socket, sys
                for path in sys.argv[1:3]:
                    try:
                        socket.socket(socket.AF_UNIX).connect(path)
                        print(path, 'connected')
                    except OSError as e:
                        print(path, e.errno)
                for path in [sys.argv[1].rsplit('/', 1)[0], sys.argv[3].rsplit('/', 1)[0]]:
                    try:
                        open(path + '/flowgate.pgpass').read()
                        print('read', path)
                    except OSError as e:
                        print('read', e.errno)
                """, "\(state)/pg/.s.PGSQL.5432", "\(state)/run/flowgate-1.sock", "\(state)/secrets/x",
            ], environment: [:])
        XCTAssertEqual(
            probe.output.split(separator: "\n").map { $0.split(separator: " ").last ?? "" },
            ["13", "13", "13", "13"], "EACCES for both sockets and both secret paths: \(probe.output)")
    }

    func testTheApplicationRoleIsNoSuperuserAndCannotRunPrograms() throws {
        let db = try TestStack.database()
        let role = try XCTUnwrap(
            try db.run(
                """
                SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls,
                       pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER'),
                       pg_has_role(current_user, 'pg_read_server_files', 'MEMBER'),
                       pg_has_role(current_user, 'pg_write_server_files', 'MEMBER')
                FROM pg_roles WHERE rolname = current_user
                """
            ).first?.values)
        XCTAssertEqual(role, ["f", "f", "f", "f", "f", "f", "f", "f"])
        XCTAssertThrowsError(try db.run("COPY (SELECT 1) TO PROGRAM 'id'")) { error in
            XCTAssertEqual((error as? PostgresError)?.sqlState, "42501")
        }
        XCTAssertThrowsError(try db.run("SELECT pg_read_file('/etc/passwd')"))
        XCTAssertThrowsError(try db.run("CREATE ROLE intruder SUPERUSER"))
    }

    func testEveryConnectionNeedsAPassword() throws {
        let rules = try TestStack.superuserDatabase().run("SELECT DISTINCT auth_method FROM pg_hba_file_rules").rows.map { $0.string(0) }
        XCTAssertEqual(rules, ["scram-sha-256"])
        let url = try XCTUnwrap(TestStack.databaseURL)
        let withoutPassword =
            url.split(separator: " ").filter { !$0.hasPrefix("passfile=") }.joined(separator: " ") + " passfile=/nonexistent"
        XCTAssertThrowsError(try Connection(conninfo: withoutPassword)) { error in
            XCTAssertTrue("\(error)".contains("password"), "\(error)")
        }
    }
}
