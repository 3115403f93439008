import HTTP
import JSON
import Scale

/// Scale's list pagination (spec §1.7): `page` (1-based, or `last`), `page_size` (default 100,
/// at most 1000, silently), and the envelope `{"count", "next", "previous", "results"}` with
/// absolute URLs built from the request as nginx passed it.
struct Pagination {
    static let defaultSize = 100
    static let maximumSize = 1000

    let requested: String?
    let size: Int

    init(_ request: Request) {
        requested = request.queryValues("page").last
        let asked = request.queryValues("page_size").last.flatMap { Int($0) } ?? Pagination.defaultSize
        size = asked < 1 ? Pagination.defaultSize : min(asked, Pagination.maximumSize)
    }

    /// Which page to fetch before the count is known; `last` and bad pages are settled later.
    var pageNumber: Int {
        guard let requested else { return 1 }
        return Int(requested) ?? 1
    }

    /// Rows before the page; nil when no page that far can exist (it would overflow).
    var offset: Int? {
        let (offset, overflow) = (pageNumber - 1).multipliedReportingOverflow(by: size)
        return overflow ? nil : offset
    }

    /// Runs `fetch(limit, offset)`; for `page=last` it counts first, then fetches that page.
    func page<Item>(
        _ request: Request, fetch: (Int, Int) throws -> (count: Int, items: [Item]),
        render: (Item) -> JSON
    ) throws -> Response {
        var number = pageNumber
        guard requested == nil || requested == "last" || (Int(requested ?? "") != nil && number >= 1), let offset else {
            throw HTTPError(404, "Invalid page.")
        }
        var result = try fetch(size, max(0, offset))
        let last = max(1, (result.count + size - 1) / size)
        if requested == "last" {
            number = last
            result = try fetch(size, (number - 1) * size)
        }
        guard number <= last else { throw HTTPError(404, "Invalid page.") }
        return .json([
            "count": .number(result.count),
            "next": number < last ? .string(url(request, page: number + 1)) : .null,
            "previous": number > 1 ? .string(url(request, page: number - 1)) : .null,
            "results": .array(result.items.map(render)),
        ])
    }

    /// The request's own URL with `page` replaced (removed for page 1), other parameters kept
    /// but `token`: a link must not carry a credential.
    func url(_ request: Request, page: Int) -> String {
        var query = request.query.filter { $0.0 != "page" && $0.0 != "token" }
        if page > 1 { query.append(("page", String(page))) }
        let text = query.map { Pagination.encode($0.0) + "=" + Pagination.encode($0.1) }.joined(separator: "&")
        return request.origin + request.rawPath + (text.isEmpty ? "" : "?" + text)
    }

    static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count < 2 ? "0" : "") + hex
            }
        }
        return out
    }
}
