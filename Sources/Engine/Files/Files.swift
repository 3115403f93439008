import JSON
import Postgres

/// A file's name and bytes.
public struct NamedFile: Sendable, Equatable {
    public let name: String
    public let content: [UInt8]

    public init(name: String, content: [UInt8]) {
        self.name = name
        self.content = content
    }
}

/// Uploaded modules and job files (the `files` table).
public struct Files {
    let connection: Connection

    /// Stores modules in one transaction; a name already taken is `.conflict` and stores none.
    public func storeModules(_ modules: [(file: NamedFile, metadata: JSON)], surface: SurfaceName, by user: User) throws {
        do {
            try connection.transaction { tx in
                for module in modules {
                    try tx.run(
                        FileQueries.insertModule, surface.rawValue, module.file.name, Bytea.text(module.file.content),
                        module.metadata.serialized, user.id)
                }
            }
        } catch let error as PostgresError where error.isUniqueViolation {
            throw EngineError(.conflict, "A module of that name already exists")
        }
    }

    /// Names and metadata of a surface's modules, oldest first.
    public func modules(surface: SurfaceName) throws -> [(name: String, metadata: JSON)] {
        try connection.rows(FileQueries.modules, surface.rawValue)
    }

    public func module(surface: SurfaceName, name: String) throws -> [UInt8]? {
        try connection.first(FileQueries.moduleContent, surface.rawValue, name)
    }

    /// A file a task of this job produced.
    public func jobFile(surface: SurfaceName, jobPublicId: String, name: String) throws -> [UInt8]? {
        try connection.first(FileQueries.jobFile, surface.rawValue, jobPublicId, name)
    }
}

/// bytea in libpq's text format: `\x` and two hex digits per byte.
enum Bytea {
    static func text(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8](repeating: 0, count: 2 + bytes.count * 2)
        out[0] = UInt8(ascii: "\\")
        out[1] = UInt8(ascii: "x")
        for (i, byte) in bytes.enumerated() {
            out[2 + 2 * i] = digits[Int(byte >> 4)]
            out[3 + 2 * i] = digits[Int(byte & 15)]
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func bytes(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity((utf8.count - 2) / 2)
        var i = 2
        while i < utf8.count {
            guard let high = nibble(utf8[i]), let low = nibble(utf8[i + 1]) else { return nil }
            out.append(high << 4 | low)
            i += 2
        }
        return out
    }
}

package enum FileQueries {
    /// $1 surface, $2 name, $3 content (`Bytea.text`), $4 metadata, $5 uploader.
    static let insertModule = Query(
        "file_insert_module",
        """
        INSERT INTO files (surface, kind, name, content, metadata, created_by) VALUES ($1, 'module', $2, $3::bytea, $4::jsonb, $5)
        """, binding: String.self, String.self, String.self, String.self, Int64?.self)

    static let modules = Query(
        "file_modules",
        "SELECT name, metadata FROM files WHERE surface = $1 AND kind = 'module' ORDER BY id", binding: String.self
    ) { row in (name: try row.value("name", as: String.self), metadata: try row.optionalJSON("metadata") ?? [:]) }

    static let moduleContent = Query(
        "file_module_content",
        "SELECT content FROM files WHERE surface = $1 AND kind = 'module' AND name = $2", binding: String.self, String.self,
        reading: content)

    /// $1 surface, $2 name, $3 job, $4 content.
    static let insertJobFile = Query(
        "file_insert_job_file",
        """
        INSERT INTO files (surface, kind, name, job_id, content) VALUES ($1, 'job_file', $2, $3, $4::bytea)
        ON CONFLICT (job_id, name) WHERE kind = 'job_file' DO UPDATE SET content = excluded.content
        """, binding: String.self, String.self, Int64.self, String.self)

    static let jobFile = Query(
        "file_job_file",
        """
        SELECT f.content FROM files f JOIN jobs j ON j.id = f.job_id
        WHERE j.surface = $1 AND j.public_id = $2 AND f.kind = 'job_file' AND f.name = $3
        """, binding: String.self, String.self, String.self, reading: content)

    /// The bytes of the `content` column; throws when it is not bytea's hex form.
    @Sendable static func content(_ row: Row) throws -> [UInt8] {
        let text = try row.value("content", as: String.self)
        guard let bytes = Bytea.bytes(text) else { throw RowReadError(column: "content", reason: "not bytea hex") }
        return bytes
    }
}

extension FileQueries: StatementCatalog {
    package static var statements: [Statement] {
        [insertModule.statement, modules.statement, moduleContent.statement, insertJobFile.statement, jobFile.statement]
    }
}
