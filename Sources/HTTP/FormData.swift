/// Fields and files of a form body, in the order sent (repeated names kept).
public struct FormData {
    public struct File {
        public let field: String
        public let filename: String
        public let contentType: String
        public let content: [UInt8]
    }

    public let fields: [(String, String)]
    public let files: [File]

    public init(fields: [(String, String)], files: [File]) {
        self.fields = fields
        self.files = files
    }

    public subscript(name: String) -> String? { fields.first(where: { $0.0 == name })?.1 }
    public func file(_ field: String) -> File? { files.first(where: { $0.field == field }) }
}

/// `application/x-www-form-urlencoded` and percent-decoding (query strings use the same rules).
public enum FormEncoding {
    public static func decodePairs(_ text: String) throws(HTTPError) -> [(String, String)] {
        var pairs: [(String, String)] = []
        for piece in text.split(separator: "&") where !piece.isEmpty {
            let parts = piece.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = percentDecode(parts[0], plusIsSpace: true),
                let value = percentDecode(parts.count > 1 ? parts[1] : "", plusIsSpace: true)
            else { throw .badRequest("Invalid percent-encoding in \(String(parts[0]).prefix(64))") }
            guard !name.utf8.contains(0), !value.utf8.contains(0) else {
                throw .badRequest("Parameter \(name.prefix(64)) contains a NUL byte")
            }
            pairs.append((name, value))
        }
        return pairs
    }

    /// Decodes `%XX` escapes; nil when an escape is malformed or the result is not UTF-8.
    public static func percentDecode(_ text: Substring, plusIsSpace: Bool) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                bytes.append(high << 4 | low)
            case UInt8(ascii: "+") where plusIsSpace:
                bytes.append(UInt8(ascii: " "))
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// `multipart/form-data` (RFC 7578): parts with a `name`, and a `filename` for files.
public enum MultipartParser {
    public static func parse(body: [UInt8], contentType: String) throws(HTTPError) -> FormData {
        guard let boundary = boundary(of: contentType) else {
            throw .badRequest("multipart/form-data without a boundary")
        }
        let delimiter = Array(("--" + boundary).utf8)
        var fields: [(String, String)] = []
        var files: [FormData.File] = []
        guard var cursor = find(delimiter, in: body, from: 0) else { throw .badRequest("Malformed multipart body") }
        while true {
            cursor += delimiter.count
            // "--" after a delimiter closes the body.
            if cursor + 1 < body.count, body[cursor] == UInt8(ascii: "-"), body[cursor + 1] == UInt8(ascii: "-") { break }
            guard let headerEnd = find(Array("\r\n\r\n".utf8), in: body, from: cursor) else {
                throw .badRequest("Malformed multipart part headers")
            }
            let headerText = String(decoding: body[cursor..<headerEnd], as: UTF8.self)
            let contentStart = headerEnd + 4
            guard let next = find(Array("\r\n".utf8) + delimiter, in: body, from: contentStart) else {
                throw .badRequest("Unterminated multipart part")
            }
            let content = Array(body[contentStart..<next])
            let headers = partHeaders(headerText)
            let disposition = headers["content-disposition"] ?? ""
            guard let name = headerParameter("name", in: disposition) else {
                throw .badRequest("Multipart part without a name")
            }
            if let filename = headerParameter("filename", in: disposition) {
                files.append(
                    FormData.File(
                        field: name, filename: filename,
                        contentType: headers["content-type"] ?? "application/octet-stream",
                        content: content))
            } else {
                guard let value = String(validating: content, as: UTF8.self) else {
                    throw .badRequest("Form field \(name) is not UTF-8")
                }
                guard !value.utf8.contains(0) else { throw .badRequest("Form field \(name) contains a NUL byte") }
                fields.append((name, value))
            }
            cursor = next + 2
        }
        return FormData(fields: fields, files: files)
    }

    static func boundary(of contentType: String) -> String? {
        headerParameter("boundary", in: contentType).flatMap { $0.isEmpty ? nil : $0 }
    }

    static func partHeaders(_ text: String) -> [String: String] {
        var headers: [String: String] = [:]
        for line in text.split(separator: "\r\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            headers[String(parts[0]).trimmingSpaces().lowercased()] = String(parts[1]).trimmingSpaces()
        }
        return headers
    }

    /// A `name=value` or `name="value"` parameter after the first `;` of a header value.
    static func headerParameter(_ name: String, in header: String) -> String? {
        for parameter in header.split(separator: ";").dropFirst() {
            let parts = parameter.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, String(parts[0]).trimmingSpaces().lowercased() == name else { continue }
            var value = String(parts[1]).trimmingSpaces()
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return value
        }
        return nil
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
        let first = needle[0]
        var i = start
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == first {
                var j = 1
                while j < needle.count, haystack[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i }
            }
            i += 1
        }
        return nil
    }
}
