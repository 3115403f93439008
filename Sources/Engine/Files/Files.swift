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
                    try tx.execute(
                        FileQueries.insertModule,
                        [
                            surface.rawValue, module.file.name, Bytea.text(module.file.content),
                            module.metadata.serialized, user.id,
                        ])
                }
            }
        } catch let error as PostgresError where error.isUniqueViolation {
            throw EngineError(.conflict, "A module of that name already exists")
        }
    }

    /// Names and metadata of a surface's modules, oldest first.
    public func modules(surface: SurfaceName) throws -> [(name: String, metadata: JSON)] {
        try connection.execute(FileQueries.modules, [surface.rawValue]).rows.map { row in
            (row.string(0), try row.optionalJSON(1) ?? [:])
        }
    }

    public func module(surface: SurfaceName, name: String) throws -> [UInt8]? {
        try connection.execute(FileQueries.moduleContent, [surface.rawValue, name]).first?[0].flatMap(Bytea.bytes)
    }

    /// A file a task of this job produced.
    public func jobFile(surface: SurfaceName, jobPublicId: String, name: String) throws -> [UInt8]? {
        try connection.execute(FileQueries.jobFile, [surface.rawValue, jobPublicId, name]).first?[0].flatMap(Bytea.bytes)
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
    static let insertModule = Statement(
        "file_insert_module",
        """
        INSERT INTO files (surface, kind, name, content, metadata, created_by) VALUES ($1, 'module', $2, $3::bytea, $4::jsonb, $5)
        """)

    static let modules = Statement(
        "file_modules",
        "SELECT name, metadata FROM files WHERE surface = $1 AND kind = 'module' ORDER BY id")

    static let moduleContent = Statement(
        "file_module_content",
        "SELECT content FROM files WHERE surface = $1 AND kind = 'module' AND name = $2")

    static let insertJobFile = Statement(
        "file_insert_job_file",
        """
        INSERT INTO files (surface, kind, name, job_id, content) VALUES ($1, 'job_file', $2, $3, $4::bytea)
        ON CONFLICT (job_id, name) WHERE kind = 'job_file' DO UPDATE SET content = excluded.content
        """)

    static let jobFile = Statement(
        "file_job_file",
        """
        SELECT f.content FROM files f JOIN jobs j ON j.id = f.job_id
        WHERE j.surface = $1 AND j.public_id = $2 AND f.kind = 'job_file' AND f.name = $3
        """)
}

extension FileQueries: StatementCatalog {
    package static var statements: [Statement] { [insertModule, modules, moduleContent, insertJobFile, jobFile] }
}
