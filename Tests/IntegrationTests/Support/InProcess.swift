import Engine
import FlowgateApp
import Foundation
import HTTP

/// The application driven in this test process, on the stack's database, with no nginx and no
/// FastCGI in between: for surface rules, in milliseconds (the nginx tests keep what needs the
/// transport). Each request borrows a session (a connection) from a small pool.
final class InProcessApplication: @unchecked Sendable {
    static let shared = InProcessApplication()

    let application = Wiring.application(Configuration.fromEnvironment())
    private let lock = NSLock()
    private var idle: [Session] = []

    func respond(method: String, target: String, headers: [String: String], body: [UInt8]) throws -> HTTPResponse {
        let session = try borrow()
        defer { lock.withLock { idle.append(session) } }
        let response = application.respond(
            method: method, target: target, headers: headers, body: body, context: session,
            prepare: { try $0.reconnectIfNeeded() })
        var fields: [String: String] = [:]
        for (name, value) in response.headers { fields[name.lowercased()] = value }
        return HTTPResponse(status: response.status, headers: fields, body: method == "HEAD" ? [] : response.body)
    }

    private func borrow() throws -> Session {
        if let session = lock.withLock({ idle.popLast() }) { return session }
        guard let url = TestStack.databaseURL else { throw ClientError("FLOWGATE_TEST_DATABASE_URL is not set: run with ops/test") }
        return try Session(conninfo: url, surfaces: Wiring.surfaces)
    }
}
