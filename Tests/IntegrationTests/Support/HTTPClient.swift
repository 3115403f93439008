import Foundation
import Glibc
import JSON

/// A response as read off the wire.
struct HTTPResponse {
    let status: Int
    let headers: [String: String]
    let body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }
    var json: JSON? { try? JSON.parse(body) }
    func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// A minimal HTTP/1.1 client over a TCP socket. It sends exactly the bytes asked for (tests need
/// NUL bytes, bad escapes and odd headers that higher-level clients refuse to send). Made with
/// `inProcess`, the same calls go straight to the application in this process instead.
struct HTTPClient {
    let host: String
    let port: UInt16
    let inProcess: InProcessApplication?

    init(baseURL: String, inProcess: InProcessApplication? = nil) {
        let hostPort = baseURL.replacingOccurrences(of: "http://", with: "").split(separator: "/").first ?? ""
        let parts = hostPort.split(separator: ":")
        host = String(parts[0])
        port = parts.count > 1 ? UInt16(parts[1]) ?? 80 : 80
        self.inProcess = inProcess
    }

    func request(_ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8] = []) throws -> HTTPResponse {
        if let inProcess {
            // As nginx passes them: lower-cased names, the Host as the client sent it.
            var fields = ["host": "\(host):\(port)"]
            for (name, value) in headers { fields[name.lowercased()] = value }
            return try inProcess.respond(method: method, target: target, headers: fields, body: body)
        }
        var head = "\(method) \(target) HTTP/1.1\r\nConnection: close\r\n"
        // A test may send its own Host, as a client addressing another name would.
        if !headers.contains(where: { $0.0.lowercased() == "host" }) { head += "Host: \(host):\(port)\r\n" }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if !body.isEmpty || ["POST", "PUT", "PATCH"].contains(method) { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        let raw = try exchange(Array(head.utf8) + body)
        return try HTTPClient.parse(raw)
    }

    func get(_ target: String, token: String? = nil, headers: [(String, String)] = []) throws -> HTTPResponse {
        try request("GET", target, headers: authorization(token) + headers)
    }

    func postJSON(_ target: String, _ body: JSON, token: String? = nil, headers: [(String, String)] = []) throws -> HTTPResponse {
        try request(
            "POST", target, headers: authorization(token) + [("Content-Type", "application/json")] + headers,
            body: Array(body.serialized.utf8))
    }

    func authorization(_ token: String?) -> [(String, String)] {
        token.map { [("Authorization", "Bearer \($0)")] } ?? []
    }

    private func exchange(_ bytes: [UInt8]) throws -> [UInt8] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ClientError("socket failed") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw ClientError("connect to \(host):\(port) failed: \(String(cString: strerror(errno)))") }
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }  // the server may answer (413) before reading everything
            sent += n
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response.append(contentsOf: buffer[0..<n])
        }
        return response
    }

    static func parse(_ raw: [UInt8]) throws -> HTTPResponse {
        guard let split = indexOf([13, 10, 13, 10], in: raw) else { throw ClientError("no response head") }
        let head = String(decoding: raw[0..<split], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = head[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw ClientError("bad status line \(head[0])") }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Array(raw[(split + 4)...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" { body = dechunk(body) }
        return HTTPResponse(status: status, headers: headers, body: body)
    }

    static func dechunk(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        while let lineEnd = indexOf([13, 10], in: data, from: index) {
            let sizeText = String(decoding: data[index..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText, radix: 16), size > 0 else { break }
            let start = lineEnd + 2
            out.append(contentsOf: data[start..<min(start + size, data.count)])
            index = start + size + 2
        }
        return out
    }

    static func indexOf(_ needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var i = start
        while i <= haystack.count - needle.count {
            if Array(haystack[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }
}

struct ClientError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Builds a multipart/form-data body.
struct Multipart {
    let boundary = "flowgate-test-\(UInt32.random(in: 0...UInt32.max))"
    var parts: [(name: String, filename: String?, content: [UInt8])] = []

    mutating func field(_ name: String, _ value: String) { parts.append((name, nil, Array(value.utf8))) }
    mutating func file(_ name: String, filename: String, _ content: [UInt8]) { parts.append((name, filename, content)) }

    var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    var body: [UInt8] {
        var out: [UInt8] = []
        for part in parts {
            var head = "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(part.name)\""
            if let filename = part.filename { head += "; filename=\"\(filename)\"\r\nContent-Type: application/octet-stream" }
            head += "\r\n\r\n"
            out += Array(head.utf8) + part.content + Array("\r\n".utf8)
        }
        return out + Array("--\(boundary)--\r\n".utf8)
    }
}
