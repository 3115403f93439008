import Engine
import Foundation
import JSON
import Postgres

public struct JobComment: Sendable {
    public let id: String
    public let comment: String
    public let createdBy: String?
    public let createdAt: Double
}

public struct JobAttachment: Sendable {
    public let id: String
    public let alias: String
    public let folder: String?
    /// Set for a linked attachment; nil for a file kept here.
    public let link: String?
    public let contentType: String?
    public let createdBy: String?
    public let createdAt: Double
}

/// What a Workflow Manager job keeps beside its steps: comments, attachments and its location.
/// Every call names the job by item and id and answers nil when there is no such job.
public struct JobRecords {
    let connection: Connection

    /// In bytes of UTF-8.
    public static let maxCommentLength = 10_000
    public static let maxCommentsPerJob = 1000
    public static let maxAttachmentsPerJob = 100

    public func addComment(item: Int64, jobId: String, _ comment: String, by user: User) throws -> String? {
        guard comment.utf8.count <= Self.maxCommentLength else {
            throw EngineError(.invalid, "A comment is at most \(Self.maxCommentLength) bytes")
        }
        return try inserted(try connection.first(Self.insertComment, item, jobId, comment, user.id, Self.maxCommentsPerJob), item, jobId)
    }

    public func comments(item: Int64, jobId: String) throws -> [JobComment]? {
        guard try jobExists(item, jobId) else { return nil }
        return try connection.rows(Self.commentsOfJob, item, jobId)
    }

    /// A file kept with the job.
    public func attach(item: Int64, jobId: String, alias: String, folder: String?, content: [UInt8], contentType: String, by user: User)
        throws -> String?
    {
        return try inserted(
            try connection.first(
                Self.insertAttachment, item, jobId, alias, folder, Data(content).base64EncodedString(), contentType, nil as String?,
                user.id, Self.maxAttachmentsPerJob),
            item, jobId)
    }

    /// A link to a file elsewhere; only http(s) URLs.
    public func link(item: Int64, jobId: String, url: String, alias: String, folder: String?, by user: User) throws -> String? {
        guard let scheme = URL(string: url)?.scheme?.lowercased(), scheme == "https" || scheme == "http" else {
            throw EngineError(.invalid, "An attachment link must be an http or https URL")
        }
        return try inserted(
            try connection.first(
                Self.insertAttachment, item, jobId, alias, folder, nil as String?, nil as String?, url, user.id,
                Self.maxAttachmentsPerJob),
            item, jobId)
    }

    public func attachments(item: Int64, jobId: String) throws -> [JobAttachment]? {
        guard try jobExists(item, jobId) else { return nil }
        return try connection.rows(Self.attachmentsOfJob, item, jobId, nil as String?)
    }

    /// The attachment and, for a file, its content.
    public func attachment(item: Int64, jobId: String, id: String) throws -> (JobAttachment, [UInt8]?)? {
        guard let row = try connection.first(Self.attachmentContent, item, jobId, id) else { return nil }
        // Text parameters and results carry the bytes as base64 (libpq's text format).
        return (row.0, row.1.flatMap { Data(base64Encoded: $0).map { [UInt8]($0) } })
    }

    public func updateAttachment(item: Int64, jobId: String, id: String, alias: String?, folder: String?) throws -> Bool {
        try connection.first(Self.renameAttachment, item, jobId, id, alias, folder) != nil
    }

    public func deleteAttachment(item: Int64, jobId: String, id: String) throws -> Bool {
        try connection.first(Self.removeAttachment, item, jobId, id) != nil
    }

    /// Sets (or, with nil, clears) the job's location, kept in its document.
    public func setLocation(item: Int64, jobId: String, _ location: JSON?) throws -> Bool {
        try connection.first(Self.updateLocation, item, jobId, location?.serialized) != nil
    }

    private func jobExists(_ item: Int64, _ jobId: String) throws -> Bool {
        try connection.first(Self.jobKey, item, jobId) != nil
    }

    /// The new row's id; nil when the job does not exist; `.conflict` when it is full.
    private func inserted(_ id: String?, _ item: Int64, _ jobId: String) throws -> String? {
        if let id { return id }
        guard try jobExists(item, jobId) else { return nil }
        throw EngineError(.conflict, "The job has reached its limit of comments or attachments")
    }

    // MARK: Statements

    static let job = "SELECT id FROM jobs WHERE item_id = $1 AND surface = 'workflow_manager' AND public_id = $2"
    static let jobKey = Query("wm_job_key", job, binding: Int64.self, String.self, reading: { try $0.value("id", as: Int64.self) })

    static let insertComment = Query(
        "wm_comment_insert",
        """
        INSERT INTO wm_job_comments (job_id, comment, created_by)
        SELECT j.id, $3, $4 FROM (\(job)) j
        WHERE (SELECT count(*) FROM wm_job_comments c WHERE c.job_id = j.id) < $5
        RETURNING public_id
        """, binding: Int64.self, String.self, String.self, Int64.self, Int.self,
        reading: { try $0.value("public_id", as: String.self) })
    static let commentsOfJob = Query(
        "wm_comments_of_job",
        """
        SELECT c.public_id, c.comment, u.username, extract(epoch FROM c.created_at) AS created_at
        FROM wm_job_comments c JOIN (\(job)) j ON j.id = c.job_id LEFT JOIN users u ON u.id = c.created_by
        ORDER BY c.id
        """, binding: Int64.self, String.self,
        reading: { row in
            JobComment(
                id: try row.value("public_id"), comment: try row.value("comment"), createdBy: try row.optional("username"),
                createdAt: try row.value("created_at"))
        })

    static let attachmentColumns = """
        a.public_id, a.alias, a.folder, a.link, a.content_type, u.username, extract(epoch FROM a.created_at) AS created_at
        """
    @Sendable static func attachment(_ row: Row) throws -> JobAttachment {
        JobAttachment(
            id: try row.value("public_id"), alias: try row.value("alias"), folder: try row.optional("folder"),
            link: try row.optional("link"), contentType: try row.optional("content_type"), createdBy: try row.optional("username"),
            createdAt: try row.value("created_at"))
    }
    static let insertAttachment = Query(
        "wm_attachment_insert",
        """
        INSERT INTO wm_job_attachments (job_id, alias, folder, content, content_type, link, created_by)
        SELECT j.id, $3, $4, decode($5, 'base64'), $6, $7, $8 FROM (\(job)) j
        WHERE (SELECT count(*) FROM wm_job_attachments a WHERE a.job_id = j.id) < $9
        RETURNING public_id
        """, binding: Int64.self, String.self, String.self, String?.self, String?.self, String?.self, String?.self, Int64.self,
        Int.self, reading: { try $0.value("public_id", as: String.self) })
    static let attachmentsOfJob = Query(
        "wm_attachments_of_job",
        """
        SELECT \(attachmentColumns) FROM wm_job_attachments a JOIN (\(job)) j ON j.id = a.job_id
        LEFT JOIN users u ON u.id = a.created_by WHERE $3::text IS NULL OR a.public_id = $3 ORDER BY a.id
        """, binding: Int64.self, String.self, String?.self, reading: attachment)
    static let attachmentContent = Query(
        "wm_attachment_content",
        """
        SELECT \(attachmentColumns), translate(encode(a.content, 'base64'), E'\\n', '') AS content FROM wm_job_attachments a JOIN (\(job)) j ON j.id = a.job_id
        LEFT JOIN users u ON u.id = a.created_by WHERE a.public_id = $3
        """, binding: Int64.self, String.self, String.self,
        reading: { row in (try attachment(row), try row.optional("content", as: String.self)) })
    static let renameAttachment = Query(
        "wm_attachment_update",
        """
        UPDATE wm_job_attachments a SET alias = coalesce($4, a.alias), folder = coalesce($5, a.folder)
        FROM (\(job)) j WHERE a.job_id = j.id AND a.public_id = $3 RETURNING a.id
        """, binding: Int64.self, String.self, String.self, String?.self, String?.self,
        reading: { try $0.value("id", as: Int64.self) })
    static let removeAttachment = Query(
        "wm_attachment_delete",
        "DELETE FROM wm_job_attachments a USING (\(job)) j WHERE a.job_id = j.id AND a.public_id = $3 RETURNING a.id",
        binding: Int64.self, String.self, String.self, reading: { try $0.value("id", as: Int64.self) })
    static let updateLocation = Query(
        "wm_job_location",
        """
        UPDATE jobs SET document = CASE WHEN $3::jsonb IS NULL THEN document - 'location'
                                        ELSE jsonb_set(document, '{location}', $3::jsonb) END
        WHERE item_id = $1 AND surface = 'workflow_manager' AND public_id = $2 RETURNING id
        """, binding: Int64.self, String.self, String?.self, reading: { try $0.value("id", as: Int64.self) })
}

extension JobRecords: StatementCatalog {
    package static var statements: [Statement] {
        [
            jobKey.statement, insertComment.statement, commentsOfJob.statement, insertAttachment.statement,
            attachmentsOfJob.statement, attachmentContent.statement, renameAttachment.statement, removeAttachment.statement,
            updateLocation.statement,
        ]
    }
}
