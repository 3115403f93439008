import Foundation
import JSON
import Postgres
import XCTest

/// A Blocks user talking to the stack through nginx with its `token` cookie.
struct BlocksUser {
    let email: String
    let token: String
    let client: HTTPClient

    static func register(_ name: String = "blk") throws -> BlocksUser {
        let client = try TestStack.client()
        let email = "\(name)-\(UUID().uuidString.prefix(8).lowercased())@example.com"
        var form = Multipart()
        form.field("email", email)
        form.field("username", name)
        form.field("password", "pw-\(name)")
        let registered = try client.request("POST", "/api/users/register", headers: [("Content-Type", form.contentType)], body: form.body)
        guard registered.status == 201 else { throw ClientError("register: \(registered.status) \(registered.text)") }
        var login = Multipart()
        login.field("email", email)
        login.field("password", "pw-\(name)")
        let response = try client.request("POST", "/api/users/login", headers: [("Content-Type", login.contentType)], body: login.body)
        guard let token = response.json?["token"]?.stringValue else { throw ClientError("login: \(response.text)") }
        return BlocksUser(email: email, token: token, client: client)
    }

    func post(_ path: String, _ fields: [(String, String)]) throws -> HTTPResponse {
        var form = Multipart()
        for (name, value) in fields { form.field(name, value) }
        return try client.request(
            "POST", path, headers: [("Content-Type", form.contentType), ("Cookie", "token=\(token)")],
            body: form.body)
    }

    func schedule(_ workflow: JSON) throws -> HTTPResponse { try post("/api/workflow/schedule", [("workflow", workflow.serialized)]) }

    func scheduled(_ workflow: JSON) throws -> Int {
        let response = try schedule(workflow)
        guard response.status == 200, let id = response.json?["job_id"]?.intValue else {
            throw ClientError("schedule: \(response.status) \(response.text)")
        }
        return id
    }

    func details(_ id: Int) throws -> HTTPResponse { try post("/api/workflow/schedule", [("jobId", String(id))]) }

    /// Polls the job until it leaves RUNNING (riding out a 502 while an instance restarts).
    func finished(_ id: Int, timeout: TimeInterval = 30) throws -> JSON {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let response = try details(id)
            if response.status == 200, let document = response.json, document["status"] != "RUNNING" { return document }
            usleep(50_000)
        }
        throw ClientError("job \(id) still RUNNING after \(timeout) s")
    }
}

/// Graph builders for the Arithmetic module.
enum Graphs {
    static func constant(_ id: Int, _ value: JSON) -> JSON {
        [
            "id": .number(id), "x": 0, "y": 0, "type": "Constant", "module": "Arithmetic.zip:Arithmetic",
            "values": ["constant value": value],
        ]
    }

    static func block(_ id: Int, _ type: String) -> JSON {
        ["id": .number(id), "x": 0, "y": 0, "type": .string(type), "module": "Arithmetic.zip:Arithmetic", "values": [:]]
    }

    static func edge(_ id: Int, from: Int, to: Int, input: String) -> JSON {
        [
            "id": .number(id), "block1": .number(from), "connector1": ["output", "output"],
            "block2": .number(to), "connector2": [.string(input), "input"],
        ]
    }

    /// a ∘ b for one binary block.
    static func binary(_ type: String, _ a: JSON, _ b: JSON) -> JSON {
        [
            "edges": [edge(1, from: 1, to: 3, input: "num1"), edge(2, from: 2, to: 3, input: "num2")],
            "blocks": [constant(1, a), constant(2, b), block(3, type)],
        ]
    }
}

final class BlocksTests: XCTestCase {
    func blocksError(_ response: HTTPResponse, _ status: Int, _ message: String? = nil, file: StaticString = #filePath, line: UInt = #line)
    {
        XCTAssertEqual(response.status, status, response.text, file: file, line: line)
        XCTAssertEqual(response.header("content-type"), "application/json", file: file, line: line)
        guard let text = response.json?["error"]?.stringValue else {
            return XCTFail("no error field: \(response.text)", file: file, line: line)
        }
        if let message { XCTAssertEqual(text, message, file: file, line: line) }
    }

    /// The seed's example through nginx: equal to the seed's body in every field but ids and times.
    func testTheSeedExample() throws {
        let seedPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../Fixtures/seeds/002_f45b640814f2cfa4.txt"
        ).path
        let seedText = try String(contentsOfFile: seedPath, encoding: .utf8)
        let start = try XCTUnwrap(seedText.range(of: "the API returns:\n"))
        let end = try XCTUnwrap(seedText.range(of: "\nCodes"))
        let seed = try JSON.parse(String(seedText[start.upperBound..<end.lowerBound]))

        let user = try BlocksUser.register()
        let graph = try XCTUnwrap(seed["workflow"]?["blocks"]?.arrayValue).map { block in
            JSON.object((block.objectValue ?? []).filter { !["output", "completed", "error", "stderr"].contains($0.0) })
        }
        let id = try user.scheduled(["edges": try XCTUnwrap(seed["workflow"]?["edges"]), "blocks": .array(graph)])
        let document = try user.finished(id)

        XCTAssertEqual(document.objectValue?.map(\.0), ["workflow", "executionStatus", "startTime", "id", "endTime", "status"])
        XCTAssertEqual(document["id"]?.intValue, id)
        func withoutVolatile(_ json: JSON) -> JSON {
            .object((json.objectValue ?? []).filter { !["id", "startTime", "endTime"].contains($0.0) })
        }
        XCTAssertEqual(withoutVolatile(document), withoutVolatile(seed))
        XCTAssertEqual(document["workflow"]?["blocks"], document["executionStatus"])
        XCTAssertEqual(
            document["workflow"]?["blocks"]?.arrayValue?.first?.objectValue?.map(\.0),
            ["id", "x", "y", "type", "module", "values", "output", "completed", "error", "stderr"])
        // The coordinates come back exactly as sent.
        let text = try user.details(id).text
        XCTAssertTrue(text.contains("\"x\":-420.0000061035156,\"y\":-209,"), text)
        for key in ["startTime", "endTime"] {
            let time = try XCTUnwrap(document[key]?.stringValue)
            XCTAssertNotNil(
                time.range(of: #"^[A-Z][a-z]{2} [A-Z][a-z]{2} [ 1-3][0-9] \d\d:\d\d:\d\d \d{4}$"#, options: .regularExpression), time)
        }
        XCTAssertEqual(try user.post("/api/workflow/jobs", [("jobId", String(id))]).json, try user.details(id).json)
    }

    func testUsers() throws {
        let client = try TestStack.client()
        let user = try BlocksUser.register("dora")
        func form(_ path: String, _ fields: [(String, String)], cookie: String? = nil) throws -> HTTPResponse {
            var body = Multipart()
            for (name, value) in fields { body.field(name, value) }
            return try client.request(
                "POST", path, headers: [("Content-Type", body.contentType)] + (cookie.map { [("Cookie", "token=\($0)")] } ?? []),
                body: body.body)
        }
        XCTAssertEqual(
            try form("/api/users/register", [("email", user.email), ("username", "x"), ("password", "y")]).json,
            ["error": "user exsists"])
        XCTAssertEqual(try form("/api/users/register", [("email", user.email), ("username", "x"), ("password", "y")]).status, 403)
        blocksError(try form("/api/users/register", [("email", "nobody@example.com"), ("password", "y")]), 400)

        let login = try form("/api/users/login", [("email", user.email), ("password", "pw-dora")])
        XCTAssertEqual(login.status, 200)
        XCTAssertEqual(login.json?.objectValue?.map(\.0), ["reset", "id", "email", "token", "username"])
        XCTAssertEqual(login.json?["reset"], false)
        XCTAssertNotNil(login.json?["id"]?.stringValue)
        XCTAssertEqual(login.json?["username"], "dora")
        let wrong = try form("/api/users/login", [("email", user.email), ("password", "nope")])
        XCTAssertEqual(wrong.status, 403)
        XCTAssertEqual(wrong.json, ["error": "Error with your e-mail/password combination"])

        let details = try client.get("/api/users/details", headers: [("Cookie", "token=\(user.token)")])
        XCTAssertEqual(details.json, ["id": try XCTUnwrap(login.json?["id"]), "email": .string(user.email), "username": "dora"])

        let badReset = try form("/api/users/reset", [("currentPassword", "nope"), ("newPassword", "new-pw")], cookie: user.token)
        XCTAssertEqual(badReset.status, 403)
        XCTAssertEqual(badReset.json, ["error": "Incorrect Password"])
        let reset = try form("/api/users/reset", [("currentPassword", "pw-dora"), ("newPassword", "new-pw")], cookie: user.token)
        XCTAssertEqual(reset.json, ["success": "Password Changed"])
        XCTAssertEqual(try form("/api/users/login", [("email", user.email), ("password", "new-pw")]).status, 200)
        XCTAssertEqual(try form("/api/users/login", [("email", user.email), ("password", "pw-dora")]).status, 403)
    }

    func testCookieAuthenticationErrors() throws {
        let client = try TestStack.client()
        let missing = try client.get("/api/users/details")
        XCTAssertEqual(missing.status, 403)
        XCTAssertEqual(missing.json, ["error": "Authentication token is not available, please login to get one"])
        let garbage = try client.get("/api/users/details", headers: [("Cookie", "token=garbage")])
        XCTAssertEqual(garbage.status, 400)
        XCTAssertEqual(garbage.json, ["message": "Invalid token, please try again with a new token"])
        // Only the cookie counts here, not a bearer header.
        let user = try BlocksUser.register()
        XCTAssertEqual(try client.get("/api/users/details", token: user.token).status, 403)

        let db = try TestStack.database()
        let expiredToken = "expired-\(UUID().uuidString)"
        try db.execute(
            Statement(
                "t_expired_token",
                """
                INSERT INTO tokens (digest, user_id, expires_at)
                SELECT sha256(convert_to($1, 'UTF8')), id, now() - interval '1 hour' FROM users WHERE email = $2
                """), [expiredToken, user.email])
        let expired = try client.get("/api/users/details", headers: [("Cookie", "token=\(expiredToken)")])
        XCTAssertEqual(expired.status, 400)
        XCTAssertEqual(expired.json, ["message": "token expired, please login again"])

        try db.execute(Statement("t_deactivate", "UPDATE users SET active = false WHERE email = $1"), [user.email])
        let gone = try client.get("/api/users/details", headers: [("Cookie", "token=\(user.token)")])
        XCTAssertEqual(gone.status, 404)
        XCTAssertEqual(gone.json, ["error": "user does not exist, invalid token"])
    }

    func testPaletteListsTheArithmeticBlocks() throws {
        let user = try BlocksUser.register()
        let palette = try user.post("/api/workflow/initialize", [])
        XCTAssertEqual(palette.status, 200)
        // The native module first; uploaded modules (other tests') may follow.
        let blocks = Array(try XCTUnwrap(palette.json?.arrayValue).prefix(5))
        XCTAssertEqual(
            blocks.compactMap { $0["name"]?.stringValue }, ["Constant", "Addition", "Subtraction", "Multiplication", "Division"])
        XCTAssertEqual(
            blocks[1],
            [
                "module": "Arithmetic.zip:Arithmetic", "name": "Addition", "owner": "guest@guest.com", "public": false,
                "description": "", "family": "AddSub",
                "fields": [
                    ["name": "num1", "type": "NUMBER", "card": "1-1", "attrs": "input"],
                    ["name": "num2", "type": "NUMBER", "card": "1-1", "attrs": "input"],
                    ["name": "output", "type": "NUMBER", "card": "1-1", "attrs": "output"],
                ],
            ])
        XCTAssertEqual(
            blocks[0]["fields"],
            [
                ["name": "constant value", "type": "NUMBER", "defaultValue": "10", "description": "", "attrs": "editable"],
                ["name": "output", "type": "NUMBER", "card": "1-1", "attrs": "output"],
            ])
        XCTAssertEqual(blocks.compactMap { $0["family"]?.stringValue }, ["Constant", "AddSub", "AddSub", "MultiDiv", "MultiDiv"])
    }

    func testRefusedSchedulesCreateNoJob() throws {
        let user = try BlocksUser.register()
        let c = Graphs.constant(1, "1")
        let cases: [(String, String)] = [
            ("not json", "{\"blocks\": ["),
            ("empty graph", #"{"edges": [], "blocks": []}"#),
            ("not an object", "[1, 2]"),
            (
                "edge to unknown block",
                (["edges": [Graphs.edge(1, from: 1, to: 9, input: "num1")], "blocks": [c, Graphs.block(2, "Addition")]] as JSON).serialized
            ),
            (
                "cycle",
                ([
                    "edges": [Graphs.edge(1, from: 2, to: 3, input: "num1"), Graphs.edge(2, from: 3, to: 2, input: "num1")],
                    "blocks": [c, Graphs.block(2, "Addition"), Graphs.block(3, "Addition")],
                ] as JSON).serialized
            ),
            ("unknown module", (["edges": [], "blocks": [c.setting("module", to: "Nope.zip:Nope")]] as JSON).serialized),
            ("unknown type", (["edges": [], "blocks": [c.setting("type", to: "Sqrt")]] as JSON).serialized),
            (
                "input to input",
                ([
                    "edges": [["id": 1, "block1": 1, "connector1": ["num1", "input"], "block2": 2, "connector2": ["num2", "input"]]],
                    "blocks": [c, Graphs.block(2, "Addition")],
                ] as JSON).serialized
            ),
        ]
        for (name, workflow) in cases {
            blocksError(try user.post("/api/workflow/schedule", [("workflow", workflow)]), 400)
            XCTAssertEqual(
                try user.client.get("/api/workflow/schedule", headers: [("Cookie", "token=\(user.token)")]).json, [],
                "\(name) created a job")
        }
        let json = try user.client.postJSON(
            "/api/workflow/schedule", ["workflow": .string(Graphs.binary("Addition", "1", "2").serialized)],
            headers: [("Cookie", "token=\(user.token)")])
        blocksError(json, 400)
        XCTAssertEqual(try user.client.get("/api/workflow/schedule", headers: [("Cookie", "token=\(user.token)")]).json, [])
    }

    func testJobIdErrorsAndIsolationBetweenUsers() throws {
        let alice = try BlocksUser.register("alice")
        let bob = try BlocksUser.register("bob")
        let id = try alice.scheduled(Graphs.binary("Addition", "1", "2"))
        _ = try alice.finished(id)
        blocksError(try alice.post("/api/workflow/schedule", [("jobId", "abc")]), 400)
        blocksError(try alice.post("/api/workflow/jobs", [("jobId", "1.5")]), 400)
        blocksError(try alice.post("/api/workflow/jobs", []), 400)
        blocksError(try alice.post("/api/workflow/jobs", [("jobId", "999999999")]), 400, "Job 999999999 not found")
        blocksError(try bob.details(id), 400, "Job \(id) not found")
        blocksError(try bob.post("/api/workflow/jobs", [("jobId", String(id))]), 400, "Job \(id) not found")

        let mine = try alice.client.get("/api/workflow/schedule", headers: [("Cookie", "token=\(alice.token)")])
        XCTAssertEqual(mine.json?.arrayValue?.compactMap { $0["id"]?.intValue }, [id])
        XCTAssertEqual(mine.json?.arrayValue?.first?.objectValue?.map(\.0), ["startTime", "id", "endTime", "status"])
        XCTAssertEqual(try bob.client.get("/api/workflow/schedule", headers: [("Cookie", "token=\(bob.token)")]).json, [])
        let second = try alice.scheduled(Graphs.binary("Addition", "3", "4"))
        let list = try alice.client.get("/api/workflow/schedule", headers: [("Cookie", "token=\(alice.token)")])
        XCTAssertEqual(list.json?.arrayValue?.compactMap { $0["id"]?.intValue }, [second, id], "newest first")
    }

    func testEachArithmeticBlock() throws {
        let user = try BlocksUser.register()
        func result(_ type: String, _ a: JSON, _ b: JSON) throws -> JSON {
            let document = try user.finished(try user.scheduled(Graphs.binary(type, a, b)))
            return try XCTUnwrap(document["executionStatus"]?.arrayValue?.last)
        }
        XCTAssertEqual(try result("Addition", "40", "30")["output"]?["value"], "{'output': 70}")
        XCTAssertEqual(try result("Subtraction", "40", "30")["output"]?["value"], "{'output': 10}")
        XCTAssertEqual(try result("Multiplication", "40", "30")["output"]?["value"], "{'output': 1200}")
        XCTAssertEqual(try result("Division", "40", "8")["output"]?["value"], "{'output': 5.0}")
        XCTAssertEqual(try result("Division", "1", "3")["output"]?["value"], "{'output': 0.3333333333333333}")
        XCTAssertEqual(try result("Addition", " 7 ", "-2")["output"]?["value"], "{'output': 5}")
        XCTAssertEqual(try result("Addition", 4, 5)["output"]?["value"], "{'output': 9}")

        let zero = try user.finished(try user.scheduled(Graphs.binary("Division", "1", "0")))
        XCTAssertEqual(zero["status"], "FAILED")
        XCTAssertEqual(zero["endTime"], "")
        let failed = try XCTUnwrap(zero["executionStatus"]?.arrayValue?.last)
        XCTAssertEqual(failed["stderr"], "ZeroDivisionError: division by zero")
        XCTAssertEqual(failed["error"], true)
        XCTAssertEqual(failed["completed"], true)
        XCTAssertNil(failed["output"])

        XCTAssertEqual(try result("Addition", "abc", "1")["stderr"], "ValueError: invalid literal for int() with base 10: 'abc'")
        XCTAssertEqual(try result("Multiplication", "2.5", "1")["stderr"], "ValueError: invalid literal for int() with base 10: '2.5'")
        XCTAssertEqual(try result("Addition", "9223372036854775807", "1")["stderr"], "OverflowError: integer does not fit in 64 bits")
    }

    func testAFailureStopsTheJobAndLaterBlocksKeepNoResult() throws {
        let user = try BlocksUser.register()
        // Addition 3 lacks num2, so it fails; Addition 4 after it never runs.
        let graph: JSON = [
            "edges": [
                Graphs.edge(1, from: 1, to: 3, input: "num1"), Graphs.edge(2, from: 3, to: 4, input: "num1"),
                Graphs.edge(3, from: 1, to: 4, input: "num2"),
            ],
            "blocks": [Graphs.constant(1, "5"), Graphs.block(3, "Addition"), Graphs.block(4, "Addition")],
        ]
        let document = try user.finished(try user.scheduled(graph))
        XCTAssertEqual(document["status"], "FAILED")
        let blocks = try XCTUnwrap(document["executionStatus"]?.arrayValue)
        XCTAssertEqual(blocks[0]["output"]?["value"], "{'output': '5'}")
        XCTAssertEqual(blocks[1]["stderr"], "KeyError: 'num2'")
        XCTAssertEqual(blocks[2].objectValue?.map(\.0), ["id", "x", "y", "type", "module", "values"])
    }

    func executionOrder(_ jobId: Int) throws -> [String] {
        try TestStack.database().execute(
            Statement(
                "t_block_order",
                """
                SELECT t.key FROM tasks t JOIN jobs j ON j.id = t.job_id
                WHERE j.surface = 'blocks' AND j.public_id = $1 ORDER BY t.position
                """), [String(jobId)]
        ).rows.map { $0.string(0) }
    }

    func testOrderingOnChainsDiamondsAndReversedEdges() throws {
        let user = try BlocksUser.register()
        // A chain listed backwards: 3 ← 2 ← 1.
        let chain: JSON = [
            "edges": [
                Graphs.edge(1, from: 2, to: 3, input: "num1"), Graphs.edge(2, from: 1, to: 2, input: "num1"),
                Graphs.edge(3, from: 1, to: 2, input: "num2"), Graphs.edge(4, from: 1, to: 3, input: "num2"),
            ],
            "blocks": [Graphs.block(3, "Addition"), Graphs.block(2, "Addition"), Graphs.constant(1, "2")],
        ]
        let chainId = try user.scheduled(chain)
        XCTAssertEqual(try executionOrder(chainId), ["1", "2", "3"])
        XCTAssertEqual(try user.finished(chainId)["executionStatus"]?.arrayValue?.first?["output"]?["value"], "{'output': 6}")

        // A diamond: 1 feeds 2 and 3, both feed 4.
        let diamond: JSON = [
            "edges": [
                Graphs.edge(1, from: 1, to: 2, input: "num1"), Graphs.edge(2, from: 1, to: 3, input: "num1"),
                Graphs.edge(3, from: 1, to: 2, input: "num2"), Graphs.edge(4, from: 1, to: 3, input: "num2"),
                Graphs.edge(5, from: 2, to: 4, input: "num1"), Graphs.edge(6, from: 3, to: 4, input: "num2"),
            ],
            "blocks": [
                Graphs.block(4, "Multiplication"), Graphs.constant(1, "3"), Graphs.block(2, "Addition"),
                Graphs.block(3, "Multiplication"),
            ],
        ]
        let diamondId = try user.scheduled(diamond)
        XCTAssertEqual(try executionOrder(diamondId), ["1", "2", "3", "4"])
        XCTAssertEqual(try user.finished(diamondId)["executionStatus"]?.arrayValue?.first?["output"]?["value"], "{'output': 54}")

        // Edges drawn from the input end: the side whose connector says "output" is the source.
        let reversed: JSON = [
            "edges": [
                ["id": 1, "block1": 3, "connector1": ["num1", "input"], "block2": 1, "connector2": ["output", "output"]],
                ["id": 2, "block1": 3, "connector1": ["num2", "input"], "block2": 2, "connector2": ["output", "output"]],
            ],
            "blocks": [Graphs.block(3, "Subtraction"), Graphs.constant(1, "10"), Graphs.constant(2, "4")],
        ]
        let reversedId = try user.scheduled(reversed)
        XCTAssertEqual(try executionOrder(reversedId), ["1", "2", "3"])
        XCTAssertEqual(try user.finished(reversedId)["executionStatus"]?.arrayValue?.first?["output"]?["value"], "{'output': 6}")
    }

    func testTwentyJobsAtOnceCompleteExactlyOnce() throws {
        let user = try BlocksUser.register()
        let results = TestStack.concurrently(20) { n in try user.scheduled(Graphs.binary("Addition", .string(String(n)), "100")) }
        let ids = try results.map { try $0.get() }
        XCTAssertEqual(Set(ids).count, 20)
        for (n, id) in ids.enumerated() {
            let document = try user.finished(id)
            XCTAssertEqual(document["status"], "COMPLETED")
            XCTAssertEqual(document["executionStatus"]?.arrayValue?.last?["output"]?["value"], .string("{'output': \(n + 100)}"))
        }
        let history = try TestStack.database().execute(
            Statement(
                "t_twenty",
                """
                SELECT count(*) FILTER (WHERE e.event = 'task_finished'), count(DISTINCT e.task_id) FILTER (WHERE e.event = 'task_finished'),
                       count(*) FILTER (WHERE e.event = 'job_status_changed')
                FROM job_events e WHERE e.surface = 'blocks' AND e.job_public_id = ANY($1::text[])
                """), [ids.map(String.init)]
        ).first?.values
        XCTAssertEqual(history, ["60", "60", "20"], "each block's result written once, each job finished once")
    }

    /// Instance 1 alone runs a long job and is killed with SIGKILL mid-way; instance 2 finishes it.
    func testAJobWhoseInstanceIsKilledIsFinishedByTheOther() throws {
        let user = try BlocksUser.register()
        defer { TestStack.restoreInstances() }
        XCTAssertEqual(try TestStack.ctl("stop-instance", "2").status, 0)
        // Block 1 is the constant 1; blocks 2…200 each add it to the previous one.
        let count = 200
        var blocks: [JSON] = [Graphs.constant(1, "1")]
        var edges: [JSON] = []
        for id in 2...count {
            blocks.append(Graphs.block(id, "Addition"))
            edges.append(Graphs.edge(2 * id, from: id - 1, to: id, input: "num1"))
            edges.append(Graphs.edge(2 * id + 1, from: 1, to: id, input: "num2"))
        }
        let id = try user.scheduled(["edges": .array(edges), "blocks": .array(blocks)])
        let db = try TestStack.database()
        let done = Statement(
            "t_blocks_done",
            """
            SELECT count(*) FROM tasks t JOIN jobs j ON j.id = t.job_id WHERE j.surface = 'blocks' AND j.public_id = $1 AND t.status = 'succeeded'
            """)
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, (try db.execute(done, [String(id)]).first?.int(0) ?? 0) < 20 { usleep(5_000) }
        XCTAssertEqual(try TestStack.ctl("kill-instance", "1").status, 0)
        let finishedBeforeKill = try db.execute(done, [String(id)]).first?.int(0) ?? 0
        XCTAssertLessThan(finishedBeforeKill, count, "the job was still running when its instance died")

        XCTAssertEqual(try TestStack.ctl("start-instance", "2").status, 0)
        let document = try user.finished(id, timeout: 60)
        XCTAssertEqual(document["status"], "COMPLETED")
        XCTAssertEqual(document["executionStatus"]?.arrayValue?.last?["output"]?["value"], .string("{'output': \(count)}"))
        let history = try db.execute(
            Statement(
                "t_kill_history",
                """
                SELECT count(*) FILTER (WHERE event = 'task_finished'), count(DISTINCT task_id) FILTER (WHERE event = 'task_finished'),
                       count(DISTINCT actor) FILTER (WHERE event = 'task_finished')
                FROM job_events WHERE surface = 'blocks' AND job_public_id = $1
                """), [String(id)]
        ).first?.values
        XCTAssertEqual(history, [String(count), String(count), "2"], "every block finished once, by both instances")
    }
}
