import Foundation
import JSON
import Postgres
import XCTest

/// The running stack that ops/test started: nginx URL, database, and ops/ctl to kill and restart
/// its parts. Outside ops/test the integration tests are skipped with the reason.
enum TestStack {
    static let baseURL = ProcessInfo.processInfo.environment["FLOWGATE_TEST_URL"]
    static let databaseURL = ProcessInfo.processInfo.environment["FLOWGATE_TEST_DATABASE_URL"]
    /// The cluster's bootstrap superuser, for what the application role may not do (create databases).
    static let superuserURL = ProcessInfo.processInfo.environment["FLOWGATE_TEST_SUPERUSER_URL"]
    static let stateDirectory = ProcessInfo.processInfo.environment["FLOWGATE_STATE_DIR"]
    static let opsDirectory = ProcessInfo.processInfo.environment["FLOWGATE_TEST_OPS"]
    static let adminPassword = ProcessInfo.processInfo.environment["FLOWGATE_ADMIN_PASSWORD"] ?? "admin"

    static func client() throws -> HTTPClient {
        guard let baseURL else { throw XCTSkip("FLOWGATE_TEST_URL is not set: run the integration tests with ops/test") }
        return HTTPClient(baseURL: baseURL)
    }

    /// A client whose requests go to the application in this process (see `InProcessApplication`).
    static func inProcessClient() throws -> HTTPClient {
        guard let baseURL, databaseURL != nil else {
            throw XCTSkip("FLOWGATE_TEST_URL is not set: run the integration tests with ops/test")
        }
        return HTTPClient(baseURL: baseURL, inProcess: .shared)
    }

    static func database() throws -> Connection {
        guard let databaseURL else { throw XCTSkip("FLOWGATE_TEST_DATABASE_URL is not set: run with ops/test") }
        return try Connection(conninfo: databaseURL)
    }

    /// The superuser on its own database, or on `flowgate` with `application: true`.
    static func superuserDatabase(application: Bool = false) throws -> Connection {
        guard let superuserURL else { throw XCTSkip("FLOWGATE_TEST_SUPERUSER_URL is not set: run with ops/test") }
        return try Connection(
            conninfo: application ? superuserURL.replacingOccurrences(of: "dbname=postgres", with: "dbname=flowgate") : superuserURL)
    }

    /// Runs `ops/ctl ARGS` and returns its exit status and output.
    @discardableResult
    static func ctl(_ arguments: String..., environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        try ctl(arguments, environment: environment)
    }

    static func ctl(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        guard let opsDirectory else { throw XCTSkip("FLOWGATE_TEST_OPS is not set: run with ops/test") }
        return try Spawn.run(
            opsDirectory + "/ctl", arguments,
            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
    }

    /// Starts any stopped instance and waits until nginx routes to each again, so a test that
    /// killed one leaves the stack as it found it.
    static func restoreInstances() {
        for n in 1...2 { _ = try? ctl("start-instance", String(n)) }
        for n in 1...2 { try? waitUntilServing("flowgate-\(n)") }
    }

    /// The nginx access log once it holds a line with `text` and every line before it, so that
    /// a check of what the log leaves out is not made too early. Each nginx worker buffers its
    /// lines for up to a second: after the marker, one more second lets the others write theirs.
    static func accessLog(once text: String) throws -> String {
        let path = try XCTUnwrap(stateDirectory) + "/log/nginx-access.log"
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").contains(text) {
                usleep(1_200_000)
                return try String(contentsOfFile: path, encoding: .utf8)
            }
            usleep(100_000)
        }
        throw ClientError("no line with \(text) reached \(path) within 5 s")
    }

    static func waitUntilServing(_ instance: String) throws {
        let client = try client()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if try client.get("/flowgate/v1/health").json?["instance"]?.stringValue == instance { return }
            usleep(50_000)
        }
        XCTFail("\(instance) did not serve within 10 s")
    }

    static func login(_ username: String, _ password: String) throws -> String {
        let response = try client().postJSON("/flowgate/v1/login", ["username": .string(username), "password": .string(password)])
        guard response.status == 200, let token = response.json?["token"]?.stringValue else {
            throw ClientError("login as \(username) failed: \(response.status) \(response.text)")
        }
        return token
    }

    static func adminToken() throws -> String { try login("admin", adminPassword) }

    /// Creates a user with a unique name through the native API and returns (name, token).
    static func makeUser(
        roles: [String] = [], privileges: [String] = [], groups: [String] = [],
        email: String? = nil, prefix: String = "user"
    ) throws -> (name: String, token: String) {
        let name = "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
        let body: JSON = [
            "username": .string(name), "password": "secret-pw", "email": .string(email),
            "roles": .array(roles.map(JSON.string)), "privileges": .array(privileges.map(JSON.string)),
            "groups": .array(groups.map(JSON.string)),
        ]
        let response = try client().postJSON("/flowgate/v1/users", body, token: adminToken())
        guard response.status == 201 else { throw ClientError("creating \(name): \(response.status) \(response.text)") }
        return (name, try login(name, "secret-pw"))
    }

    /// Runs `work` on `count` threads released at the same moment, and returns their results in
    /// index order. (concurrentPerform would cap the parallelism at the core count.)
    static func concurrently<T: Sendable>(_ count: Int, _ work: @escaping @Sendable (Int) throws -> T) -> [Result<T, any Error>] {
        let results = ResultBox<T>(count: count)
        let start = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        for index in 0..<count {
            done.enter()
            Thread {
                start.wait()
                results.set(index, Result { try work(index) })
                done.leave()
            }.start()
        }
        for _ in 0..<count { start.signal() }
        done.wait()
        return results.values
    }
}

final class ResultBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [Result<T, any Error>?]

    init(count: Int) { storage = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: Result<T, any Error>) {
        lock.lock()
        storage[index] = value
        lock.unlock()
    }

    var values: [Result<T, any Error>] { storage.map { $0! } }
}

/// A flag one thread raises and others poll.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var raised = false

    func set() { lock.withLock { raised = true } }
    var isSet: Bool { lock.withLock { raised } }
}

/// Every node of an EXPLAIN (FORMAT JSON) plan.
func planNodes(_ plan: JSON) -> [JSON] {
    [plan] + (plan["Plans"]?.arrayValue ?? []).flatMap(planNodes)
}

private struct RolledBack: Error {}

extension Connection {
    /// What `body` returns from inside a transaction that is then rolled back, whatever it wrote
    /// (statements run inside it are not made transactions of their own).
    func rolledBack<T>(_ body: (Connection) throws -> T) throws -> T {
        var result: T?
        do {
            try transaction(retries: 0) { connection in
                result = try body(connection)
                throw RolledBack()
            }
        } catch is RolledBack {}
        return try XCTUnwrap(result)
    }

    /// VACUUM ANALYZE of `tables` as autovacuum leaves an old history: visibility maps set,
    /// statistics fresh. The first VACUUM right after a load was seen to mark none of the new
    /// pages all-visible (the cause was not pinned down), so it runs until the map covers them.
    func vacuumAsAnOldHistory(_ tables: [String]) throws {
        for _ in 0..<10 {
            try run("VACUUM ANALYZE " + tables.joined(separator: ", "))
            let names = tables.map { "'\($0)'" }.joined(separator: ", ")
            let unmarked = try run("SELECT sum(relpages - relallvisible) FROM pg_class WHERE relname IN (\(names))")
            if (unmarked.first?.int(0) ?? 0) < 20 { return }
            try run("SELECT pg_sleep(0.2)")
        }
    }
}
