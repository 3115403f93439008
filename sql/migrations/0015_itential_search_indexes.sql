-- Indexes for the Itential searches people run (ItentialSearch.Documents): the default sort by
-- start time, name sorts and filters (trigram for contains/starts-with/ends-with), end-time
-- ranges, and equality on variables. Partial, so other surfaces' writes do not maintain them.
-- pg_trgm is a trusted extension: the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX jobs_itential_start ON jobs (created_at, id) WHERE surface = 'itential';
CREATE INDEX jobs_itential_status_start ON jobs (status, created_at, id) WHERE surface = 'itential';
CREATE INDEX jobs_itential_name ON jobs (name, id) WHERE surface = 'itential';
CREATE INDEX jobs_itential_name_trigrams ON jobs USING gin (name gin_trgm_ops) WHERE surface = 'itential';
CREATE INDEX jobs_itential_end ON jobs (finished_at) WHERE surface = 'itential' AND status IN ('complete', 'canceled');
CREATE INDEX jobs_itential_variables ON jobs USING gin ((document -> 'variables') jsonb_path_ops) WHERE surface = 'itential';

-- Itential task iterations (its tasks' kinds start with itential:; an iteration always has its
-- ready_at): the default sort, status and name filters.
CREATE INDEX tasks_iteration_start ON tasks (ready_at, id) WHERE kind LIKE 'itential:%' AND iteration_id IS NOT NULL;
CREATE INDEX tasks_iteration_status ON tasks (status, ready_at, id) WHERE kind LIKE 'itential:%' AND iteration_id IS NOT NULL;
-- A task's name as text: reading it from the json definition parses the whole definition, row by
-- row, which a search matching many tasks cannot afford. (Adding it rewrites the table once.)
ALTER TABLE tasks ADD COLUMN search_name text
    GENERATED ALWAYS AS (CASE WHEN json_typeof(input -> 'name') = 'string' THEN input ->> 'name' END) STORED;
CREATE INDEX tasks_iteration_name ON tasks (search_name, ready_at, id) WHERE kind LIKE 'itential:%' AND iteration_id IS NOT NULL;
CREATE INDEX tasks_iteration_name_trigrams ON tasks USING gin (search_name gin_trgm_ops)
    WHERE kind LIKE 'itential:%' AND iteration_id IS NOT NULL;
