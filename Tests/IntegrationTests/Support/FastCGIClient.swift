import Foundation
import Glibc

/// Speaks FastCGI to an instance's socket directly, as nginx would, so that tests can send what
/// nginx never does (a negative CONTENT_LENGTH, a body shorter than declared).
enum FastCGIClient {
    /// Sends one request and returns what the application wrote to stdout (CGI headers and body).
    static func request(socket path: String, params: [(String, String)], body: [UInt8] = []) throws -> String {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ClientError("socket: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw ClientError("connect \(path): \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        var encodedParams: [UInt8] = []
        for (name, value) in params {
            for length in [name.utf8.count, value.utf8.count] {
                encodedParams +=
                    length < 128
                    ? [UInt8(length)]
                    : [UInt8(0x80 | (length >> 24)), UInt8((length >> 16) & 0xff), UInt8((length >> 8) & 0xff), UInt8(length & 0xff)]
            }
            encodedParams += Array(name.utf8) + Array(value.utf8)
        }
        var out = record(1, [0, 1, 0, 0, 0, 0, 0, 0])  // BEGIN_REQUEST, role responder
        out += record(4, encodedParams) + record(4, [])
        if !body.isEmpty { out += record(5, body) }
        out += record(5, [])
        _ = out.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }

        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            received += buffer[0..<count]
        }
        // STDOUT records' content, in order.
        var stdout: [UInt8] = []
        var index = 0
        while index + 8 <= received.count {
            let type = received[index + 1]
            let length = Int(received[index + 4]) << 8 | Int(received[index + 5])
            let padding = Int(received[index + 6])
            let start = index + 8
            guard start + length <= received.count else { break }
            if type == 6 { stdout += received[start..<start + length] }
            index = start + length + padding
        }
        return String(decoding: stdout, as: UTF8.self)
    }

    static func record(_ type: UInt8, _ content: [UInt8]) -> [UInt8] {
        [1, type, 0, 1, UInt8(content.count >> 8), UInt8(content.count & 0xff), 0, 0] + content
    }
}
