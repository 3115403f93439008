-- Bench history: many jobs made from a few real ones.
--
-- The engine writes a small set of template jobs through the HTTP API (ops/bench-history does:
-- every surface, mixed states). This file defines `bench_clone_history`, which multiplies them
-- by cloning the rows the engine wrote: jobs, their tasks, holds and job_events. Clones get new
-- ids, new public ids in their surface's format, varied names, timestamps shifted back over
-- `span` (further back for lower ids, as in a real history), and their user references spread
-- over `users`. A bulk path for benchmarks and tests only: history rows are inserted directly,
-- not through record_job_events, but each one is a copy of a row record_job_events wrote
-- (job_events stays append-only: only INSERTs).
--
-- Define it (idempotent; as the application role, which owns the tables):
--     psql "$(ops/ctl database-url)" -v ON_ERROR_STOP=1 -f sql/bench/clone_history.sql
-- then
--     SELECT bench_clone_history(20000);
--         clones until the jobs table holds 20,000 jobs in all (templates and any other jobs
--         count too: to add N, pass (SELECT count(*) FROM jobs) + N), in the caller's
--         transaction; returns how many jobs it added (0 when there are enough already)
--     SELECT bench_clone_history(1000000, max_jobs => 50000);
--         adds at most 50,000 per call: call it (each call its own transaction) until it returns 0
--     SELECT bench_clone_history(100000, users => ARRAY['bench-user-1', 'bench-user-2'], span => '2 years');
--         every user reference of a clone (owner, claimant, assignee, actor, …, and account ids in
--         its document) becomes one of these users; NULL keeps the templates' users
-- SET bench.trace = on reports each step's time. As the application role it clones about 2,700
-- jobs (with ~3 tasks and ~7 events each) a second on 2 idle cores, 20,000 in 7 s;
-- ops/bench-history calls it as the superuser with session_replication_role = replica (no
-- foreign-key checks), about 3,600 a second, 1,000,000 in about 4 minutes.
--
-- Templates are the jobs present at the first call (recorded in bench_clone_templates), less any
-- job a runner could still touch (an automatic task ready, running or waiting); clones are never
-- templates. To choose other templates: TRUNCATE bench_clone_templates, bench_clone_refs, or fill
-- bench_clone_templates yourself and call bench_clone_register_refs().
-- Note for tests sharing a database: clones of QUEUED Scale jobs and of unclaimed Itential jobs
-- can be claimed like any other (Scale's claim takes the oldest first: a clone).
--
-- Generic on purpose: the INSERTs are built from the catalog at each call, so a column added
-- later is copied as it is, except by type or reference:
--     timestamptz / timestamp      shifted back by the clone's offset (one per job, with its
--                                  tasks, holds and events)
--     uuid, uuid[]                 new random values (tasks.iteration_id is unique)
--     references to users          mapped onto `users`
--     references to jobs / tasks   the clone of the same copy when it is a template, else kept
--     a default that draws an id (nextval, gen_random_*), identity columns    the default
-- and these columns by name: jobs.id, public_id, name, document; tasks.id; the owning job_id of
-- tasks, holds and job_events; job_events.job_public_id and actor. job_events may be
-- partitioned: rows go through the parent, and when job_events_ensure_partitions exists the
-- months the clones go back to get their partitions first (made by the caller, so the first
-- call should be the application role's: a superuser's partitions would be its own).
-- The document keeps its public id and account ids in step (Itential repeats the job's id in
-- variables._id and ancestors, account ids in metrics.user, watchers, created_by): every
-- quoted string in a template's document that is a template's public id or a user's account id
-- is rewritten, and its top-level ISO-8601 times (created, last_updated, startDate, dueDate)
-- are shifted. tasks.input/output and job_events.detail are copied as they are (a hold_released
-- detail still names the template's hold id). Files (Blocks job outputs) and the workflows rows
-- (a Blocks job's graph) are shared with the template, not copied.

CREATE TABLE IF NOT EXISTS bench_clone_templates (
    job_id    bigint PRIMARY KEY,
    -- A shuffled order: a partial last copy takes the first ones, keeping the mix of surfaces.
    ord       integer NOT NULL,
    -- Top-level keys of the document holding ISO-8601 times.
    time_keys text[] NOT NULL DEFAULT '{}'
);

-- Quoted strings in a template's document that name a template job (its own public id, a
-- parent's, an ancestor's) or a user (an account id).
CREATE TABLE IF NOT EXISTS bench_clone_refs (
    template_id bigint NOT NULL,
    token       text NOT NULL,
    ref_job     bigint,
    ref_user    bigint
);
CREATE INDEX IF NOT EXISTS bench_clone_refs_template ON bench_clone_refs (template_id);

-- Copies are numbered across calls: names carry the number, so they stay unique-ish and varied.
CREATE SEQUENCE IF NOT EXISTS bench_clone_copy;

CREATE OR REPLACE FUNCTION bench_clone_register_refs() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE bench_clone_refs;
    UPDATE bench_clone_templates bt SET time_keys = coalesce((
        SELECT array_agg(key ORDER BY key) FROM jsonb_each(j.document) d
        WHERE jsonb_typeof(j.document) = 'object' AND jsonb_typeof(d.value) = 'string'
          AND d.value #>> '{}' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$'), '{}')
    FROM jobs j WHERE j.id = bt.job_id;
    INSERT INTO bench_clone_refs (template_id, token, ref_job, ref_user)
    SELECT bt.job_id, x.token, ref.job_id, u.id
    FROM bench_clone_templates bt JOIN jobs j ON j.id = bt.job_id
    CROSS JOIN LATERAL (SELECT DISTINCT m[1] AS token FROM regexp_matches(j.document::text, '"([A-Za-z0-9_-]{16,64})"', 'g') m) x
    LEFT JOIN LATERAL (SELECT o.id AS job_id FROM jobs o JOIN bench_clone_templates ot ON ot.job_id = o.id
                       WHERE o.surface = j.surface AND o.public_id = x.token) ref ON true
    LEFT JOIN users u ON u.account_id = x.token
    WHERE ref.job_id IS NOT NULL OR u.id IS NOT NULL;
    ANALYZE bench_clone_templates;
    ANALYZE bench_clone_refs;
END $$;

-- The clone's document: referenced public ids and account ids replaced (through placeholders, so
-- that a replacement is never replaced again), top-level times shifted, its name if it repeats
-- the job's.
CREATE OR REPLACE FUNCTION bench_clone_document(doc jsonb, tokens text[], replacements text[], shift interval,
                                                time_keys text[], old_name text, new_name text)
RETURNS jsonb LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    body text;
    key  text;
    value text;
BEGIN
    IF cardinality(tokens) > 0 THEN
        body := doc::text;
        FOR i IN 1 .. cardinality(tokens) LOOP
            body := replace(body, '"' || tokens[i] || '"', '"' || chr(1) || i || chr(1) || '"');
        END LOOP;
        FOR i IN 1 .. cardinality(tokens) LOOP
            body := replace(body, '"' || chr(1) || i || chr(1) || '"', '"' || replacements[i] || '"');
        END LOOP;
        doc := body::jsonb;
    END IF;
    FOREACH key IN ARRAY coalesce(time_keys, '{}') LOOP
        IF jsonb_typeof(doc -> key) = 'string' THEN
            value := doc ->> key;
            doc := jsonb_set(doc, ARRAY[key], to_jsonb(CASE
                WHEN value LIKE '%.%' THEN iso_utc(value::timestamptz - shift)
                ELSE to_char((value::timestamptz - shift) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') END));
        END IF;
    END LOOP;
    IF old_name IS DISTINCT FROM new_name AND doc ->> 'name' = old_name THEN
        doc := jsonb_set(doc, '{name}', to_jsonb(new_name));
    END IF;
    RETURN doc;
END $$;

-- One INSERT … SELECT for `target`, built from the catalog: `overrides` gives the SQL of some
-- columns; the others follow the rules at the top of this file. `source` is the FROM clause,
-- which names the template row `t` and its job's map row `m`. Returns the rows inserted.
CREATE OR REPLACE FUNCTION bench_clone_insert(target regclass, source text, overrides jsonb, users_sql text[],
                                              order_by text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    col      record;
    columns  text[] := '{}';
    exprs    text[] := '{}';
    joins    text := '';
    expr     text;
    identity boolean := false;
    inserted bigint;
    started  timestamptz := clock_timestamp();
BEGIN
    FOR col IN
        SELECT a.attname::text AS name, a.attnum, format_type(a.atttypid, a.atttypmod) AS type, a.attidentity <> '' AS is_identity,
               pg_get_expr(d.adbin, d.adrelid) AS default_expr,
               (SELECT c.confrelid FROM pg_constraint c
                WHERE c.conrelid = target AND c.contype = 'f' AND c.conkey = ARRAY[a.attnum]::int2[] LIMIT 1) AS refers
        FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = target AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
        ORDER BY a.attnum
    LOOP
        IF overrides ? col.name THEN
            expr := overrides ->> col.name;
            identity := identity OR col.is_identity;
        ELSIF col.is_identity OR col.default_expr ~ '(nextval|gen_random_)' THEN
            CONTINUE;  -- a fresh id from the column's own default
        ELSIF col.refers = 'users'::regclass THEN
            expr := CASE WHEN users_sql IS NULL THEN format('t.%I', col.name)
                         ELSE format('CASE WHEN t.%1$I IS NULL THEN NULL ELSE (%2$s)[1 + ((t.%1$I + m.salt) %% %3$s)] END',
                                     col.name, users_sql[1], users_sql[3]) END;
        ELSIF col.refers = 'jobs'::regclass THEN
            joins := joins || format(' LEFT JOIN bench_map_jobs %1$I ON %1$I.old_id = t.%2$I AND %1$I.copy = m.copy',
                                     'ref_' || col.name, col.name);
            expr := format('coalesce(%I.new_id, t.%I)', 'ref_' || col.name, col.name);
        ELSIF col.refers = 'tasks'::regclass AND target = 'jobs'::regclass THEN
            expr := 'NULL';  -- the tasks do not exist yet: set once they do (bench_clone_history)
        ELSIF col.refers = 'tasks'::regclass THEN
            joins := joins || format(' LEFT JOIN bench_map_tasks %1$I ON %1$I.old_id = t.%2$I AND %1$I.copy = m.copy',
                                     'ref_' || col.name, col.name);
            expr := format('coalesce(%I.new_id, t.%I)', 'ref_' || col.name, col.name);
        ELSIF col.type IN ('timestamp with time zone', 'timestamp without time zone') THEN
            expr := format('t.%I - m.shift', col.name);
        ELSIF col.type = 'uuid' THEN
            expr := format('CASE WHEN t.%I IS NOT NULL THEN gen_random_uuid() END', col.name);
        ELSIF col.type = 'uuid[]' THEN
            expr := format('ARRAY(SELECT gen_random_uuid() FROM unnest(t.%I))', col.name);
        ELSE
            expr := format('t.%I', col.name);
        END IF;
        columns := columns || quote_ident(col.name);
        exprs := exprs || expr;
    END LOOP;
    EXECUTE format('INSERT INTO %s (%s) %s SELECT %s FROM %s%s%s', target, array_to_string(columns, ', '),
                   CASE WHEN identity THEN 'OVERRIDING SYSTEM VALUE' ELSE '' END, array_to_string(exprs, ', '), source, joins,
                   coalesce(' ORDER BY ' || order_by, ''));
    GET DIAGNOSTICS inserted = ROW_COUNT;
    -- SET bench.trace = on to see where the time goes.
    IF current_setting('bench.trace', true) = 'on' THEN
        RAISE NOTICE 'bench_clone_insert: % rows into % in % ms', inserted, target,
            round(extract(epoch FROM clock_timestamp() - started) * 1000);
    END IF;
    RETURN inserted;
END $$;

CREATE OR REPLACE FUNCTION bench_clone_history(target_jobs bigint, max_jobs bigint DEFAULT NULL, users text[] DEFAULT NULL,
                                               span interval DEFAULT '2 years') RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    have      bigint;
    need      bigint;
    per_copy  integer;
    copies    integer;
    first_copy bigint;
    pool      integer := 0;
    users_sql text[];
    col       record;
BEGIN
    IF NOT EXISTS (SELECT FROM bench_clone_templates) THEN
        INSERT INTO bench_clone_templates (job_id, ord)
        SELECT j.id, row_number() OVER (ORDER BY md5(j.id::text)) FROM jobs j
        WHERE NOT EXISTS (SELECT FROM tasks t WHERE t.job_id = j.id AND t.automatic AND t.status IN ('ready', 'running', 'waiting'));
        PERFORM bench_clone_register_refs();
    END IF;
    -- With job_events in month partitions (migration 0016), the months the clones go back to get
    -- theirs first, rather than filling the default partition (which would then keep those
    -- months from ever getting one). As the caller: a superuser caller's partitions would be its own.
    IF to_regproc('job_events_ensure_partitions') IS NOT NULL THEN
        PERFORM job_events_ensure_partitions(now() - span - interval '1 month');
    END IF;
    SELECT count(*) INTO have FROM jobs;
    need := least(target_jobs - have, coalesce(max_jobs, target_jobs));
    SELECT count(*) INTO per_copy FROM bench_clone_templates bt JOIN jobs j ON j.id = bt.job_id;
    IF need <= 0 THEN RETURN 0; END IF;
    IF per_copy = 0 THEN RAISE EXCEPTION 'bench_clone_history: no template jobs'; END IF;
    copies := ceil(need::numeric / per_copy);
    first_copy := nextval('bench_clone_copy');
    PERFORM setval('bench_clone_copy', first_copy + copies - 1);

    -- The users clones are spread over, as array literals for the generated SQL.
    IF users IS NOT NULL THEN
        -- [1] ids, [2] names, [3] how many.
        SELECT count(*), ARRAY[format('%L::bigint[]', array_agg(id ORDER BY username)),
                               format('%L::text[]', array_agg(username ORDER BY username)), count(*)::text]
        INTO pool, users_sql
        FROM users WHERE username = ANY(bench_clone_history.users);
        IF pool = 0 THEN RAISE EXCEPTION 'bench_clone_history: none of the users % exist', users; END IF;
    END IF;

    -- Which template becomes which clone, per copy: new ids now, so that every table can join.
    CREATE TEMP TABLE IF NOT EXISTS bench_map_jobs (
        copy bigint, old_id bigint, new_id bigint, new_public_id text, new_name text, shift interval, salt integer,
        time_keys text[]) ON COMMIT DROP;
    CREATE TEMP TABLE IF NOT EXISTS bench_map_tasks (copy bigint, old_id bigint, new_id bigint, job_new_id bigint) ON COMMIT DROP;
    CREATE TEMP TABLE IF NOT EXISTS bench_map_docs (new_id bigint, tokens text[], replacements text[]) ON COMMIT DROP;
    TRUNCATE bench_map_jobs, bench_map_tasks, bench_map_docs;

    INSERT INTO bench_map_jobs
    SELECT first_copy + c.k, j.id, nextval(pg_get_serial_sequence('jobs', 'id')),
           -- Public ids as each surface makes them (Engine job_insert, WorkflowManager wm_jobs_insert,
           -- the publicIdSequence of Scale's and Blocks' SurfaceRules).
           CASE j.surface
               WHEN 'scale' THEN nextval('scale_job_number')::text
               WHEN 'blocks' THEN nextval('blocks_job_number')::text
               WHEN 'workflow_manager' THEN translate(encode(gen_random_bytes(15), 'base64'), '+/', '-_')
               ELSE encode(gen_random_bytes(12), 'hex') END,
           CASE WHEN j.surface = 'workflow_manager' AND j.name ~ '^JOB_[0-9]+$' THEN 'JOB_' || nextval('wm_job_number')
                WHEN j.name = '' THEN ''
                ELSE j.name || '-' || (first_copy + c.k) END,
           NULL, floor(random() * greatest(pool, 1))::integer, bt.time_keys
    FROM generate_series(0, copies - 1) c(k)
    JOIN (SELECT bt.*, row_number() OVER (ORDER BY bt.ord) AS r FROM bench_clone_templates bt JOIN jobs j ON j.id = bt.job_id) bt
        ON c.k::bigint * per_copy + bt.r <= need
    JOIN jobs j ON j.id = bt.job_id
    ORDER BY c.k, bt.r;
    -- Offsets that shrink as ids grow: in a real history ids follow time, and the searches may
    -- rely on it (a window of the newest ids). The n-th job of the table goes back
    -- span * (1 - n / target_jobs), give or take a day; a later, larger load spreads its clones
    -- over the whole span again.
    UPDATE bench_map_jobs m SET shift = span * ((target_jobs - have - o.n)::float8 / target_jobs)
                                        + random() * least(interval '1 day', span / 100)
    FROM (SELECT new_id, row_number() OVER (ORDER BY new_id) AS n FROM bench_map_jobs) o WHERE o.new_id = m.new_id;
    INSERT INTO bench_map_tasks
    SELECT m.copy, t.id, nextval(pg_get_serial_sequence('tasks', 'id')), m.new_id
    FROM bench_map_jobs m JOIN tasks t ON t.job_id = m.old_id ORDER BY m.new_id, t.id;
    INSERT INTO bench_map_docs
    SELECT m.new_id, array_agg(r.token),
           array_agg(CASE WHEN r.ref_job IS NOT NULL THEN coalesce(mj.new_public_id, r.token)
                          WHEN pool > 0 THEN (pool_users.accounts)[1 + ((r.ref_user + m.salt) % pool)]
                          ELSE r.token END)
    FROM bench_map_jobs m JOIN bench_clone_refs r ON r.template_id = m.old_id
    LEFT JOIN bench_map_jobs mj ON mj.old_id = r.ref_job AND mj.copy = m.copy
    CROSS JOIN (SELECT array_agg(account_id::text ORDER BY username) AS accounts FROM users
                WHERE username = ANY(bench_clone_history.users)) pool_users
    GROUP BY m.new_id;
    CREATE INDEX IF NOT EXISTS bench_map_jobs_old ON bench_map_jobs (old_id, copy);
    CREATE INDEX IF NOT EXISTS bench_map_tasks_old ON bench_map_tasks (old_id, copy);
    ANALYZE bench_map_jobs;
    ANALYZE bench_map_tasks;
    ANALYZE bench_map_docs;
    IF current_setting('bench.trace', true) = 'on' THEN
        RAISE NOTICE 'bench_clone_history: % copies of % templates mapped in % ms', copies, per_copy,
            round(extract(epoch FROM clock_timestamp() - now()) * 1000);
    END IF;

    PERFORM bench_clone_insert('jobs',
        'bench_map_jobs m JOIN jobs t ON t.id = m.old_id LEFT JOIN bench_map_docs d ON d.new_id = m.new_id',
        jsonb_build_object('id', 'm.new_id', 'public_id', 'm.new_public_id', 'name', 'm.new_name',
                           'document', 'bench_clone_document(t.document, d.tokens, d.replacements, m.shift, m.time_keys, t.name, m.new_name)'),
        users_sql, 'm.new_id');
    PERFORM bench_clone_insert('tasks',
        'bench_map_tasks mt JOIN tasks t ON t.id = mt.old_id JOIN bench_map_jobs m ON m.new_id = mt.job_new_id',
        jsonb_build_object('id', 'mt.new_id', 'job_id', 'm.new_id'), users_sql, 'mt.new_id');
    PERFORM bench_clone_insert('holds', 'bench_map_jobs m JOIN holds t ON t.job_id = m.old_id',
        jsonb_build_object('job_id', 'm.new_id'), users_sql, 'm.new_id, t.id');
    -- In each job's order, so that its history reads back (ORDER BY id) as the template's did.
    PERFORM bench_clone_insert('job_events', 'bench_map_jobs m JOIN job_events t ON t.job_id = m.old_id',
        jsonb_build_object('job_id', 'm.new_id', 'job_public_id', 'm.new_public_id',
                           'actor', CASE WHEN users_sql IS NULL THEN 't.actor'
                                         ELSE format('CASE WHEN t.actor_id IS NULL THEN t.actor ELSE (%s)[1 + ((t.actor_id + m.salt) %% %s)] END',
                                                     users_sql[2], users_sql[3]) END),
        users_sql, 'm.new_id, t.id');

    -- References from jobs to tasks (an Itential child job's parent task), now that those exist.
    FOR col IN
        SELECT a.attname::text AS name FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        WHERE c.conrelid = 'jobs'::regclass AND c.contype = 'f' AND c.confrelid = 'tasks'::regclass AND cardinality(c.conkey) = 1
    LOOP
        EXECUTE format('UPDATE jobs j SET %1$I = coalesce(mt.new_id, t.%1$I) FROM bench_map_jobs m JOIN jobs t ON t.id = m.old_id
                        LEFT JOIN bench_map_tasks mt ON mt.old_id = t.%1$I AND mt.copy = m.copy
                        WHERE j.id = m.new_id AND t.%1$I IS NOT NULL', col.name);
    END LOOP;
    RETURN (SELECT count(*) FROM bench_map_jobs);
END $$;
