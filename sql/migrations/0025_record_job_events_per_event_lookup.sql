-- record_job_events found each event's task through a join the planner costs for a hundred
-- events of unknown jobs: on a tasks table of a few thousand rows it hashed the whole table on
-- every call (a sequential scan of tasks, 2 ms of every history write). A lateral lookup per
-- event reads only its own job's tasks through tasks (job_id, key), whatever the table's size;
-- its LIMIT keeps the planner from flattening it back into that join (an event names one task
-- at most: (job_id, key) is unique).
CREATE OR REPLACE FUNCTION record_job_events(events jsonb) RETURNS integer
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
    LEFT JOIN LATERAL (
        SELECT t.id, t.key FROM tasks t
        WHERE t.job_id = e.job_id AND (t.id = e.task_id OR (e.task_id IS NULL AND t.key = e.task_key))
        LIMIT 1
    ) t ON true
    ORDER BY x.n;
    GET DIAGNOSTICS written = ROW_COUNT;
    IF written <> jsonb_array_length(events) THEN
        RAISE EXCEPTION 'record_job_events: % of % events name no job', jsonb_array_length(events) - written,
            jsonb_array_length(events);
    END IF;
    RETURN written;
END
$$;
