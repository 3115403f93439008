import HTTP
import JSON
import JSONSchema
import Scale
import WorkflowManager

@testable import Engine
@testable import ItentialAPI
@testable import ScaleAPI

/// One parser fed arbitrary bytes. It may refuse them, as it would a request; it must not
/// crash, hang or grow without bound.
struct FuzzTarget: Sendable {
    let name: String
    let run: @Sendable ([UInt8]) -> Void

    static let all: [FuzzTarget] = [
        FuzzTarget(name: "json") { bytes in _ = try? JSON.parse(bytes) },
        FuzzTarget(name: "multipart") { bytes in
            // The first line is the Content-Type, the rest the body.
            let split = bytes.firstIndex(of: 10) ?? bytes.endIndex
            form(
                "multipart/form-data; " + String(decoding: bytes[..<split], as: UTF8.self),
                Array(bytes[min(split + 1, bytes.endIndex)...]))
        },
        FuzzTarget(name: "form") { bytes in form("application/x-www-form-urlencoded", bytes) },
        FuzzTarget(name: "wm-query") { bytes in
            guard var parser = try? JobQueryParser(String(decoding: bytes, as: UTF8.self), currentUser: "fuzz") else { return }
            _ = try? parser.parse()
        },
        FuzzTarget(name: "itential-search") { bytes in
            guard
                let request = try? Request(
                    method: "GET", target: "/operations-manager/jobs?" + String(decoding: bytes, as: UTF8.self),
                    headers: [:], body: [])
            else { return }
            _ = try? ItentialSearchQuery(request, caller: fuzzUser)
        },
        FuzzTarget(name: "scale-time") { bytes in
            let value = String(decoding: bytes, as: UTF8.self)
            if let request = try? Request(method: "GET", target: "/v6/jobs/?started=" + Pagination.encode(value), headers: [:], body: []) {
                _ = try? ScaleJobsAPI.time(request, "started")
            }
            _ = Timestamp.parse(value).map(Timestamp.format)
        },
        FuzzTarget(name: "semver") { bytes in
            guard let version = SemVer(String(decoding: bytes, as: UTF8.self)) else { return }
            _ = version < version
        },
        FuzzTarget(name: "json-schema") { bytes in
            // `[schema, instance]`.
            guard let pair = try? JSON.parse(bytes), let schema = pair[0], let instance = pair[1] else { return }
            _ = JSONSchema(schema).validate(instance)
        },
    ]

    static func form(_ contentType: String, _ body: [UInt8]) {
        guard let request = try? Request(method: "POST", target: "/", headers: ["content-type": contentType], body: body) else { return }
        _ = try? request.formBody()
    }

    /// A caller for searches: an ordinary user in one group.
    static let fuzzUser = User([
        "id": 1, "username": "fuzz", "account_id": "000000000000000000000001", "active": true,
        "roles": ["apiread"], "group_accounts": [["name": "g", "id": "000000000000000000000002"]],
    ])!
}
