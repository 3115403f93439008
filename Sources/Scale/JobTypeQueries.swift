import Engine
import Postgres

/// Statements on job types, their revisions, tags and secrets.
package enum JobTypeQueries {
    /// Read by name (`JobTypes.record`); rows that add columns after them name those first (a
    /// repeated name reads its first occurrence).
    static let scalarColumns = """
        jt.id, jt.name, jt.version, jt.is_active, jt.is_system, jt.is_paused, jt.is_published, jt.icon_code,
        jt.unmet_resources, jt.max_scheduled, jt.max_tries, jt.revision_num, jt.docker_image, iso_utc(jt.created_at) AS created,
        iso_utc(jt.deprecated_at) AS deprecated, iso_utc(jt.paused_at) AS paused, iso_utc(jt.last_modified) AS last_modified
        """

    /// Everything (details): 19 columns.
    static let columns = "\(scalarColumns), jt.manifest, jt.configuration"

    /// The same 19 columns for list rows, which show only the manifest's title and description.
    static let listColumns = """
        \(scalarColumns),
        jsonb_build_object('job', jsonb_build_object('title', jt.manifest #> '{job,title}', 'description', jt.manifest #> '{job,description}'))
            AS manifest,
        '{}'::jsonb AS configuration
        """

    /// $1 keywords (name or any tag contains one, case-insensitively and literally), $2 ids,
    /// $3 is_active, $4 is_system; NULL means no filter.
    static let filter = """
        ($1::text[] IS NULL OR EXISTS (
            SELECT 1 FROM unnest($1::text[]) k
            WHERE strpos(lower(jt.name), lower(k)) > 0
               OR EXISTS (SELECT 1 FROM job_type_tags t WHERE t.job_type_id = jt.id AND strpos(lower(t.tag), lower(k)) > 0)))
        AND ($2::bigint[] IS NULL OR jt.id = ANY($2::bigint[]))
        AND ($3::boolean IS NULL OR jt.is_active = $3)
        AND ($4::boolean IS NULL OR jt.is_system = $4)
        """

    static let insert = Query(
        "job_type_insert",
        """
        INSERT INTO job_types (name, version, version_key, manifest, configuration, docker_image, icon_code, is_published,
                               max_scheduled, is_active, is_paused, deprecated_at, paused_at)
        VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, $8, $9, $10, $11,
                CASE WHEN $10 THEN NULL ELSE now() END, CASE WHEN $11 THEN now() END)
        ON CONFLICT (name, version) DO NOTHING
        RETURNING id
        """, binding: String.self, String.self, String.self, String.self, String.self, String.self, String?.self, Bool.self, Int?.self,
        Bool.self, Bool.self, reading: { try $0.value("id", as: Int64.self) })

    static let lock = Query(
        "job_type_lock", "SELECT id FROM job_types WHERE name = $1 AND version = $2 FOR UPDATE", binding: String.self, String.self,
        reading: { try $0.value("id", as: Int64.self) })

    static let isSystem = Query(
        "job_type_is_system", "SELECT is_system FROM job_types WHERE id = $1", binding: Int64.self,
        reading: { try $0.value("is_system", as: Bool.self) })

    /// A manifest bumps the revision and clears unmet_resources; flags move their timestamps.
    static let update = Query(
        "job_type_update",
        """
        UPDATE job_types SET
            revision_num = revision_num + CASE WHEN $2::jsonb IS NULL THEN 0 ELSE 1 END,
            manifest = coalesce($2::jsonb, manifest),
            unmet_resources = CASE WHEN $2::jsonb IS NULL THEN unmet_resources END,
            docker_image = CASE WHEN $3 <> '' THEN $3 ELSE docker_image END,
            configuration = coalesce($4::jsonb, configuration),
            icon_code = CASE WHEN $5 THEN $6 ELSE icon_code END,
            is_published = coalesce($7, is_published),
            max_scheduled = CASE WHEN $8 THEN $9 ELSE max_scheduled END,
            deprecated_at = CASE WHEN $10::boolean IS NULL OR $10 = is_active THEN deprecated_at
                                 WHEN $10 THEN NULL ELSE now() END,
            is_active = coalesce($10, is_active),
            paused_at = CASE WHEN $11::boolean IS NULL OR $11 = is_paused THEN paused_at
                             WHEN $11 THEN now() ELSE NULL END,
            is_paused = coalesce($11, is_paused),
            last_modified = now()
        WHERE id = $1
        """, binding: Int64.self, String?.self, String?.self, String?.self, Bool.self, String?.self, Bool?.self, Bool.self, Int?.self,
        Bool?.self, Bool?.self)

    /// The job type's current manifest and image as its next revision row.
    static let insertRevision = Query(
        "job_type_insert_revision",
        """
        INSERT INTO job_type_revisions (job_type_id, revision_num, manifest, docker_image)
        SELECT id, revision_num, manifest, docker_image FROM job_types WHERE id = $1
        """, binding: Int64.self)

    /// The manifest's errors become rows of `errors` for this job type's name (Scale: `data`
    /// errors are DATA, others ALGORITHM); an existing row keeps its `created`.
    static let upsertErrors = Query(
        "job_type_upsert_errors",
        """
        INSERT INTO errors (name, job_type_name, title, description, category)
        SELECT e ->> 'name', jt.name, e ->> 'title', e ->> 'description',
               CASE WHEN e ->> 'category' = 'data' THEN 'DATA' ELSE 'ALGORITHM' END
        FROM job_types jt, jsonb_array_elements(coalesce($1::jsonb #> '{job,errors}', '[]')) e
        WHERE jt.id = $2
        ON CONFLICT ((coalesce(job_type_name, '')), name) DO UPDATE
            SET title = excluded.title, description = excluded.description, category = excluded.category, last_modified = now()
        """, binding: String.self, Int64.self)

    static let clearTags = Query("job_type_clear_tags", "DELETE FROM job_type_tags WHERE job_type_id = $1", binding: Int64.self)
    static let addTags = Query(
        "job_type_add_tags",
        "INSERT INTO job_type_tags (job_type_id, tag) SELECT $1, unnest($2::text[])", binding: Int64.self, [String].self)
    static let clearSecrets = Query("job_type_clear_secrets", "DELETE FROM job_type_secrets WHERE job_type_id = $1", binding: Int64.self)
    static let addSecret = Query(
        "job_type_add_secret",
        "INSERT INTO job_type_secrets (job_type_id, setting_name, value) VALUES ($1, $2, $3)", binding: Int64.self, String.self, String.self
    )

    static let byNameVersion = Query(
        "job_type_by_name_version",
        "SELECT \(columns) FROM job_types jt WHERE jt.name = $1 AND jt.version = $2", binding: String.self, String.self,
        reading: JobTypes.record)

    static let versions = Query(
        "job_type_versions",
        """
        SELECT \(listColumns), count(*) OVER () AS total FROM job_types jt
        WHERE jt.name = $1 AND ($2::boolean IS NULL OR jt.is_active = $2)
        ORDER BY jt.version_key COLLATE "C" DESC, jt.id LIMIT $3 OFFSET $4
        """, binding: String.self, Bool?.self, Int.self, Int.self,
        reading: { (try JobTypes.record($0), total: try $0.value("total", as: Int.self)) })

    /// Names with a matching version; each row is the highest version of the name, whichever
    /// versions matched, with every version of the name in SemVer order. $1–$4 the filter, $5
    /// limit, $6 offset; `orderBy` is built from fixed fragments (`JobTypes.orderBy`).
    static func names(orderBy: String) -> String {
        """
        WITH matching AS (SELECT DISTINCT jt.name FROM job_types jt WHERE \(filter)),
        latest AS (
            SELECT DISTINCT ON (jt.name) jt.* FROM job_types jt JOIN matching USING (name)
            ORDER BY jt.name, jt.version_key COLLATE "C" DESC, jt.id DESC)
        SELECT \(listColumns),
               (SELECT json_agg(v.version ORDER BY v.version_key COLLATE "C") FROM job_types v WHERE v.name = jt.name) AS versions,
               count(*) OVER () AS total
        FROM latest jt ORDER BY \(orderBy) LIMIT $5 OFFSET $6
        """
    }

    static let revisions = Query(
        "job_type_revisions",
        """
        SELECT id, revision_num, docker_image, iso_utc(created_at) AS created, manifest, count(*) OVER () AS total
        FROM job_type_revisions WHERE job_type_id = $1 ORDER BY revision_num DESC LIMIT $2 OFFSET $3
        """, binding: Int64.self, Int.self, Int.self, reading: { (try JobTypes.revision($0), total: try $0.value("total", as: Int.self)) })

    static let revision = Query(
        "job_type_revision",
        """
        SELECT id, revision_num, docker_image, iso_utc(created_at) AS created, manifest
        FROM job_type_revisions WHERE job_type_id = $1 AND revision_num = $2
        """, binding: Int64.self, Int.self, reading: JobTypes.revision)
}

extension JobTypeQueries: StatementCatalog {
    package static var statements: [Statement] {
        [
            insert.statement, lock.statement, isSystem.statement, update.statement, insertRevision.statement, upsertErrors.statement,
            clearTags.statement, addTags.statement, clearSecrets.statement, addSecret.statement, byNameVersion.statement,
            versions.statement, revisions.statement, revision.statement,
        ]
    }
}
