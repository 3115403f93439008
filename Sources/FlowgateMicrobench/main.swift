import Engine
import FlowgateApp
import Foundation
import HTTP
import JSON

// flowgate-microbench [ROUND-MS]: the request path's parts in process, without nginx, FastCGI
// or PostgreSQL (ops/bench unit builds and runs it): routing every surface's usual paths through
// the real route table, parsing a request, and parsing and writing a page of JSON. It prints the
// best of five rounds in nanoseconds per operation, so that a regression shows in one run.
// A small harness rather than ordo-one/benchmark: that one needs its plugin, a newer tools
// version and the malloc interposer in every CI build, for a handful of loops.

/// Milliseconds each of the five rounds of a case lasts, about.
let roundMilliseconds = CommandLine.arguments.dropFirst().first.flatMap { Double($0) } ?? 100

/// The least time per call of `body` over five rounds, in nanoseconds; a round makes as many
/// calls as fit in `roundMilliseconds`, going by the first call.
func nanoseconds(_ body: () -> Void) -> Double {
    func elapsed(_ calls: Int) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<calls { body() }
        return Double(DispatchTime.now().uptimeNanoseconds - start)
    }
    let calls = max(10, Int(roundMilliseconds * 1e6 / max(elapsed(1), 1)))
    return (0..<5).map { _ in elapsed(calls) / Double(calls) }.min() ?? 0
}

/// Keeps a result alive, so that the optimizer cannot drop the work that made it.
@inline(never) func use<T>(_ value: T) { withExtendedLifetime(value) {} }

let router = Wiring.application(Configuration.fromEnvironment()).router

let paths: [(String, String)] = [
    ("GET", "/flowgate/v1/health"), ("POST", "/v6/jobs/claim/"), ("GET", "/v6/job-types/"),
    ("POST", "/workflow_engine/claimJob"), ("POST", "/operations-manager/jobs/start"),
    ("POST", "/acme/item-1/jobs/0123456789abcdef/action"), ("POST", "/api/workflow/schedule"), ("GET", "/no/such/route"),
]
let headers = [
    "host": "127.0.0.1:8080", "user-agent": "wrk", "accept": "*/*", "authorization": "Bearer " + String(repeating: "a", count: 64),
    "content-type": "application/json", "content-length": "52", "x-request-id": "0123456789abcdef0123456789abcdef",
    "cookie": "token=abc; theme=dark",
]
let page = JSON.object([
    ("count", 100), ("next", .null), ("previous", .null),
    (
        "results",
        .array(
            (0..<100).map { n in
                JSON.object([
                    ("id", .number(n)), ("name", .string("job-type-\(n)")), ("version", "1.0.0"), ("title", "A job type, \"quoted\""),
                    ("description", "Does one thing\nwell: ü"), ("is_active", true), ("is_paused", false), ("max_tries", 3),
                    ("created", "2026-12-07T00:00:00.000Z"),
                ])
            })
    ),
])
let pageText = page.serialized

print("ns per operation, best of 5 rounds of about \(Int(roundMilliseconds)) ms:")
func report(_ name: String, _ body: () -> Void) {
    let figure = String(Int(nanoseconds(body).rounded()))
    print(String(repeating: " ", count: max(0, 10 - figure.count)) + figure + "  " + name)
}
for (method, path) in paths {
    let segments = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map(String.init)
    report("route \(method) \(path)") { use(router.match(method: method, segments: segments)) }
}
report("parse a request (target with a query, 8 headers)") {
    use(try? Request(method: "GET", target: "/v6/jobs/?status=RUNNING&page_size=25&order=-last_modified", headers: headers, body: []))
}
report("parse a JSON page of 100 job types (\(pageText.utf8.count) bytes)") { use(try? JSON.parse(pageText)) }
report("write that page as bytes") { use(page.serializedBytes) }
