import Engine
import JSON
import Scale

/// Scale's serializer field sets, in their key order (spec §3).
enum ScaleRender {
    static func base(_ jobType: JobTypeRecord) -> [(String, JSON)] {
        let job = jobType.manifest["job"] ?? [:]
        return [
            ("id", .number(Int(jobType.id))), ("name", .string(jobType.name)), ("version", .string(jobType.version)),
            ("title", job["title"] ?? .null), ("description", job["description"] ?? .null),
            ("is_active", .bool(jobType.isActive)), ("is_system", .bool(jobType.isSystem)), ("is_paused", .bool(jobType.isPaused)),
            ("is_published", .bool(jobType.isPublished)), ("icon_code", .string(jobType.iconCode)),
            ("unmet_resources", .string(jobType.unmetResources)),
        ]
    }

    static func jobType(_ jobType: JobTypeRecord) -> JSON {
        .object(
            base(jobType) + [
                ("max_scheduled", jobType.maxScheduled.map { .number($0) } ?? .null), ("max_tries", .number(jobType.maxTries)),
                ("revision_num", .number(jobType.revisionNum)), ("docker_image", .string(jobType.dockerImage)),
                ("created", .string(jobType.created)), ("deprecated", .string(jobType.deprecated)), ("paused", .string(jobType.paused)),
                ("last_modified", .string(jobType.lastModified)),
            ])
    }

    /// Details: the stored configuration never held secret values, and Flowgate has no recipes.
    static func details(_ record: JobTypeRecord) -> JSON {
        guard case let .object(fields) = jobType(record) else { return [:] }
        let configuration = JobConfiguration(json: record.configuration).publicJSON(secretSettings: [])
        return .object(fields + [("manifest", record.manifest), ("configuration", configuration), ("recipe_types", [])])
    }

    static func jobTypeName(_ latest: JobTypeRecord, versions: [String]) -> JSON {
        .object(
            [("name", .string(latest.name))] + base(latest).filter { !["id", "name", "version"].contains($0.0) }
                + [("versions", .array(versions.map(JSON.string))), ("latest_version", .string(latest.version))])
    }

    static func revision(_ revision: JobTypeRevision, of jobType: JobTypeRecord, details: Bool) -> JSON {
        var fields: [(String, JSON)] = [
            ("id", .number(Int(revision.id))), ("job_type", .object(base(jobType))),
            ("revision_num", .number(revision.revisionNum)), ("docker_image", .string(revision.dockerImage)),
            ("created", .string(revision.created)),
        ]
        if details { fields.append(("manifest", revision.manifest)) }
        return .object(fields)
    }

    static func error(_ error: ErrorRecord) -> JSON {
        [
            "id": .number(Int(error.id)), "name": .string(error.name), "title": .string(error.title),
            "description": .string(error.description), "job_type_name": .string(error.jobTypeName), "category": .string(error.category),
            "is_builtin": .bool(error.isBuiltin), "should_be_retried": .bool(error.shouldBeRetried), "created": .string(error.created),
            "last_modified": .string(error.lastModified),
        ]
    }
}
