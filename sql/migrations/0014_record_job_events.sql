-- The one writer of job_events. Every statement that records history calls it, from Swift
-- (JobEvents.record) or from the CTE that made the change, so that surface and public id
-- always come from the job's row and a task named by key alone is found by it.
-- $1: a JSON array of {job_id, task_id?, task_key?, event, actor_id?, actor, from_status?,
-- to_status?, detail?}, inserted in its order. Refuses events naming no job, rather than
-- dropping them. STRICT: no events (a NULL aggregate) writes nothing.
CREATE FUNCTION record_job_events(events jsonb) RETURNS integer
LANGUAGE plpgsql STRICT AS $$
DECLARE
    written integer;
BEGIN
    INSERT INTO job_events (job_id, surface, job_public_id, task_id, task_key, event, actor_id, actor,
                            from_status, to_status, detail)
    SELECT j.id, j.surface, j.public_id, coalesce(e.task_id, t.id), coalesce(e.task_key, t.key), e.event,
           e.actor_id, e.actor, e.from_status, e.to_status, coalesce(e.detail, '{}')
    FROM jsonb_array_elements(events) WITH ORDINALITY AS x(value, n)
    CROSS JOIN LATERAL jsonb_to_record(x.value) AS e(job_id bigint, task_id bigint, task_key text, event text,
                                                      actor_id bigint, actor text, from_status text,
                                                      to_status text, detail jsonb)
    JOIN jobs j ON j.id = e.job_id
    LEFT JOIN tasks t ON t.job_id = e.job_id AND (t.id = e.task_id OR (e.task_id IS NULL AND t.key = e.task_key))
    ORDER BY x.n;
    GET DIAGNOSTICS written = ROW_COUNT;
    IF written <> jsonb_array_length(events) THEN
        RAISE EXCEPTION 'record_job_events: % of % events name no job', jsonb_array_length(events) - written,
            jsonb_array_length(events);
    END IF;
    RETURN written;
END
$$;
