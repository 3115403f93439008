import JSON
import XCTest

@testable import HTTP

final class RouterTests: XCTestCase {
    func router() -> Router<Void> {
        var router = Router<Void>()
        router.add(Route("GET", "/jobs/{id}") { _, _ in .text("param") })
        router.add(Route("GET", "/jobs/search") { _, _ in .text("literal") })
        router.add(Route("POST", "/jobs/{id}") { _, _ in .text("post") })
        router.add(Route("GET", "/{org}/{item}/jobs") { _, _ in .text("org") })
        return router
    }

    func handlerName(_ match: Router<Void>.Match) throws -> String {
        guard case let .found(route, _) = match else { return "none" }
        let request = try Request(method: "GET", target: "/", headers: [:], body: [])
        return String(decoding: try route.handler(request, ()).body, as: UTF8.self)
    }

    func testLiteralBeatsParameterWhateverTheOrder() throws {
        XCTAssertEqual(try handlerName(router().match(method: "GET", segments: ["jobs", "search"])), "literal")
        XCTAssertEqual(try handlerName(router().match(method: "GET", segments: ["jobs", "42"])), "param")
        guard case let .found(_, parameters) = router().match(method: "GET", segments: ["jobs", "42"]) else { return XCTFail() }
        XCTAssertEqual(parameters, ["id": "42"])
    }

    func testMethodNotAllowedListsAllowedMethodsAndHeadUsesGet() throws {
        guard case let .methodNotAllowed(allowed) = router().match(method: "DELETE", segments: ["jobs", "1"]) else { return XCTFail() }
        XCTAssertEqual(Set(allowed), ["GET", "POST", "HEAD"])
        XCTAssertEqual(try handlerName(router().match(method: "HEAD", segments: ["jobs", "1"])), "param")
        guard case .notFound = router().match(method: "GET", segments: ["nothing"]) else { return XCTFail() }
        guard case .notFound = router().match(method: "GET", segments: ["jobs", ""]) else { return XCTFail() }
    }

    func testAPathClaimedByALiteralRouteIsA405ForOtherMethods() throws {
        var claiming = router()
        claiming.add(Route("POST", "/jobs/validation") { _, _ in .text("validate") }.claimingPath())
        guard case let .methodNotAllowed(allowed) = claiming.match(method: "GET", segments: ["jobs", "validation"]) else {
            return XCTFail("a GET of the claimed path must not read the job named validation")
        }
        XCTAssertEqual(allowed, ["POST"])
        XCTAssertEqual(try handlerName(claiming.match(method: "POST", segments: ["jobs", "validation"])), "validate")
        XCTAssertEqual(try handlerName(claiming.match(method: "GET", segments: ["jobs", "7"])), "param", "other ids are untouched")
        guard case .methodNotAllowed = router().match(method: "PUT", segments: ["jobs", "search"]) else { return XCTFail() }
        XCTAssertEqual(
            try handlerName(router().match(method: "POST", segments: ["jobs", "search"])), "post",
            "without a claim, a literal of one method leaves the parameter route of another")
    }
}

final class RequestTests: XCTestCase {
    func testDecodesPathQueryAndCookies() throws {
        let request = try Request(
            method: "GET", target: "/a%2Fb/c%20d?x=1&x=2&y=a+b%26&flag",
            headers: ["cookie": "token=abc; other=1", "authorization": "Bearer t0k"], body: [])
        XCTAssertEqual(request.segments, ["a/b", "c d"])
        XCTAssertEqual(request.queryValues("x"), ["1", "2"])
        XCTAssertEqual(request.queryValue("y"), "a b&")
        XCTAssertEqual(request.queryValue("flag"), "")
        XCTAssertEqual(request.cookies["token"], "abc")
        XCTAssertEqual(request.token, "t0k")
    }

    func testRefusesBadEncodingNulAndOversizedParts() {
        func status(_ target: String, headers: [String: String] = [:]) -> Int? {
            do {
                _ = try Request(method: "GET", target: target, headers: headers, body: [])
                return nil
            } catch { return error.status }
        }
        XCTAssertEqual(status("/a%zz"), 400)
        XCTAssertEqual(status("/a%e2%28"), 400)
        XCTAssertEqual(status("/a?b=%00"), 400)
        XCTAssertEqual(status("/a?b=%4"), 400)
        XCTAssertEqual(status("/" + String(repeating: "a", count: 5000)), 414)
        XCTAssertEqual(status("/", headers: ["x": String(repeating: "a", count: 5000)]), 431)
    }

    func testBodyParsersCheckContentType() throws {
        let json = try Request(
            method: "POST", target: "/", headers: ["content-type": "application/json; charset=utf-8"],
            body: Array(#"{"a":1}"#.utf8))
        XCTAssertEqual(try json.jsonBody()["a"], 1)
        XCTAssertThrowsError(try json.formBody()) { XCTAssertEqual(($0 as? HTTPError)?.status, 415) }
        let form = try Request(
            method: "POST", target: "/", headers: ["content-type": "application/x-www-form-urlencoded"],
            body: Array("jobId=16&workflow=%7B%7D".utf8))
        XCTAssertEqual(try form.formBody()["jobId"], "16")
        XCTAssertEqual(try form.formBody()["workflow"], "{}")
        XCTAssertThrowsError(try form.jsonBody()) { XCTAssertEqual(($0 as? HTTPError)?.status, 415) }
        let broken = try Request(method: "POST", target: "/", headers: ["content-type": "application/json"], body: Array("{".utf8))
        XCTAssertThrowsError(try broken.jsonBody()) { XCTAssertEqual(($0 as? HTTPError)?.status, 400) }
    }

    func testMultipartFieldsAndFiles() throws {
        let body =
            "--XyZ\r\nContent-Disposition: form-data; name=\"workflow\"\r\n\r\n{\"a\": 1}\r\n"
            + "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.zip\"\r\nContent-Type: application/zip\r\n\r\nPK\u{03}\u{04}\r\n\r\n"
            + "--XyZ--\r\n"
        let form = try MultipartParser.parse(body: Array(body.utf8), contentType: "multipart/form-data; boundary=XyZ")
        XCTAssertEqual(form["workflow"], "{\"a\": 1}")
        XCTAssertEqual(form.file("file")?.filename, "m.zip")
        XCTAssertEqual(form.file("file")?.content, Array("PK\u{03}\u{04}\r\n".utf8))
        XCTAssertThrowsError(try MultipartParser.parse(body: Array("garbage".utf8), contentType: "multipart/form-data; boundary=XyZ"))
        XCTAssertThrowsError(try MultipartParser.parse(body: [], contentType: "multipart/form-data"))
    }
}

final class ApplicationTests: XCTestCase {
    func testErrorsUseTheShapeOfTheSurfaceOwningThePath() {
        let custom = Surface<Void>(
            name: "custom", owns: Surface<Void>.ownsPrefix(["api"]),
            routes: [Route("GET", "/api/ok") { _, _ in .text("ok") }],
            renderError: { .json(["detail": .string($0.message)], status: $0.status) })
        let app = Application(surfaces: [custom])
        func respond(_ method: String, _ target: String, tooLarge: Bool = false) -> Response {
            app.respond(
                method: method, target: target, headers: [:], body: [],
                bodyRefusal: tooLarge ? HTTPError(413, "too large") : nil, context: ())
        }
        XCTAssertEqual(respond("GET", "/api/missing").status, 404)
        XCTAssertNotNil(try JSON.parse(respond("GET", "/api/missing").body)["detail"])
        XCTAssertEqual(respond("POST", "/api/ok").header("Allow"), "GET, HEAD")
        XCTAssertEqual(respond("GET", "/api/%zz").status, 400)
        XCTAssertNotNil(try JSON.parse(respond("GET", "/api/%zz").body)["detail"])
        XCTAssertEqual(respond("GET", "/api/ok", tooLarge: true).status, 413)
        XCTAssertNotNil(try JSON.parse(respond("GET", "/elsewhere").body)["error"]?["status"])
    }
}
