-- Scale jobs: errors (Scale's built-in ones, and those job type manifests declare), the job
-- columns Scale reports on, and Scale's own job numbers.
CREATE TABLE errors (
    id                bigserial PRIMARY KEY,
    name              text NOT NULL CHECK (length(name) <= 50),
    -- NULL for built-in errors; the job type's name for errors its manifest declares.
    job_type_name     text,
    title             text,
    description       text,
    category          text NOT NULL DEFAULT 'SYSTEM' CHECK (category IN ('SYSTEM', 'ALGORITHM', 'DATA')),
    is_builtin        boolean NOT NULL DEFAULT false,
    should_be_retried boolean NOT NULL DEFAULT false,
    created           timestamptz NOT NULL DEFAULT now(),
    last_modified     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX errors_job_type_name ON errors ((coalesce(job_type_name, '')), name);

-- Scale's built-in errors (shared/specs/data/scale/scale-fixture-*.json).
INSERT INTO errors (name, title, description, category, is_builtin, should_be_retried, created, last_modified) VALUES
    ('unknown', 'Unknown', 'The cause of this failure is unknown. Please see the job log for more information and report this error to the Scale development team at https://github.com/ngageoint/scale so they can correct the issue.', 'SYSTEM', true, true, '2015-03-11T00:00:00.0Z'::timestamptz, '2015-03-11T00:00:00.0Z'::timestamptz),
    ('database', 'Database', 'An error occurred with the Scale database. Please see the job log for more information and report this error to the Scale development team at https://github.com/ngageoint/scale so they can correct the issue.', 'SYSTEM', true, true, '2015-03-11T00:00:00.0Z'::timestamptz, '2015-03-11T00:00:00.0Z'::timestamptz),
    ('database-operation', 'Database Operation', 'A Scale database operation failed. This can be caused by issues such as the database reaching its connection limit, being unreachable, query deadlocks, and other operation issues. Please see the job log for more information.', 'SYSTEM', true, true, '2016-04-14T00:00:00.0Z'::timestamptz, '2016-04-14T00:00:00.0Z'::timestamptz),
    ('filesystem-io', 'Filesystem I/O', 'A filesystem I/O operation failed. Please see the job log for more information.', 'SYSTEM', true, true, '2015-03-11T00:00:00.0Z'::timestamptz, '2015-03-11T00:00:00.0Z'::timestamptz),
    ('task-launch', 'Task Launch', 'A task for this job failed to launch.', 'SYSTEM', true, true, '2016-04-13T00:00:00.0Z'::timestamptz, '2016-04-13T00:00:00.0Z'::timestamptz),
    ('docker-task-launch', 'Docker Launch', 'A task for this job failed to launch a Docker container.', 'SYSTEM', true, true, '2016-04-13T00:00:00.0Z'::timestamptz, '2016-04-13T00:00:00.0Z'::timestamptz),
    ('docker-terminated', 'Docker Terminated', 'A Docker container for this job terminated unexpectedly.', 'SYSTEM', true, true, '2016-12-15T00:00:00.0Z'::timestamptz, '2016-12-15T00:00:00.0Z'::timestamptz),
    ('node-lost', 'Node Lost', 'The node running this job was lost, either by going offline or being deprecated by a Scale admin.', 'SYSTEM', true, true, '2015-03-11T00:00:00.0Z'::timestamptz, '2015-03-11T00:00:00.0Z'::timestamptz),
    ('resource-starvation', 'Resource Starvation', 'This job waited too long for resources for its next task to become available on the node.', 'SYSTEM', true, true, '2017-11-13T00:00:00.0Z'::timestamptz, '2017-11-13T00:00:00.0Z'::timestamptz),
    ('launch-timeout', 'Launch Timeout', 'A task for this job failed to start within a reasonable amount of time after being launched.', 'SYSTEM', true, true, '2017-01-06T00:00:00.0Z'::timestamptz, '2017-01-06T00:00:00.0Z'::timestamptz),
    ('pull-timeout', 'Pull-task Timeout', 'The pull-task did not finish within a reasonable amount of time. This is likely due to excessive time downloading the algorithm''s Docker image.', 'SYSTEM', true, true, '2017-06-19T00:00:00.0Z'::timestamptz, '2017-06-19T00:00:00.0Z'::timestamptz),
    ('pre-timeout', 'Pre-task Timeout', 'The pre-task did not finish within a reasonable amount of time. This is likely due to excessive time downloading the algorithm''s input files from their workspace(s).', 'SYSTEM', true, true, '2017-01-06T00:00:00.0Z'::timestamptz, '2017-01-06T00:00:00.0Z'::timestamptz),
    ('post-timeout', 'Post-task Timeout', 'The post-task did not finish within a reasonable amount of time. This is likely due to excessive time uploading the algorithm''s output files to their workspace(s).', 'SYSTEM', true, true, '2017-01-06T00:00:00.0Z'::timestamptz, '2017-01-06T00:00:00.0Z'::timestamptz),
    ('system-timeout', 'Timeout', 'The system job exceeded its timeout threshold.', 'SYSTEM', true, true, '2017-01-06T00:00:00.0Z'::timestamptz, '2017-01-06T00:00:00.0Z'::timestamptz),
    ('timeout', 'Timeout', 'The algorithm exceeded its timeout threshold.', 'ALGORITHM', true, false, '2015-03-11T00:00:00.0Z'::timestamptz, '2015-03-11T00:00:00.0Z'::timestamptz),
    ('pull', 'Docker Pull Failed', 'Scale was unable to pull the algorithm''s Docker image. Please ensure the image name is correct and the Docker registry is available.', 'SYSTEM', true, true, '2017-06-19T00:00:00.0Z'::timestamptz, '2017-06-19T00:00:00.0Z'::timestamptz),
    ('algorithm-unknown', 'Algorithm Failure', 'The algorithm failed by returning a non-zero exit code. To allow Scale to detect more specific problems with the algorithm, please define the appropriate errors for the non-zero exit codes that the algorithm may return.', 'ALGORITHM', true, false, '2016-04-13T00:00:00.0Z'::timestamptz, '2016-04-13T00:00:00.0Z'::timestamptz),
    ('invalid-results-manifest', 'Invalid Results Manifest', 'The algorithm produced an invalid results manifest file. Please see the job log for more information.', 'ALGORITHM', true, false, '2016-08-24T00:00:00.0Z'::timestamptz, '2016-08-24T00:00:00.0Z'::timestamptz),
    ('missing-required-output', 'Missing Required Output', 'The algorithm failed to produce a required output. Please see the job log for more information.', 'ALGORITHM', true, false, '2018-09-14T00:00:00.0Z'::timestamptz, '2018-09-14T00:00:00.0Z'::timestamptz),
    ('missing-setting', 'Missing Setting', 'The job is missing a required settings value. Please define default values for all settings required by this job type.', 'SYSTEM', true, false, '2016-12-08T00:00:00.0Z'::timestamptz, '2016-12-08T00:00:00.0Z'::timestamptz),
    ('missing-mount', 'Missing Mount', 'The job is missing a required mount. Please define default values for all mounts required by this job type.', 'SYSTEM', true, false, '2017-03-24T00:00:00.0Z'::timestamptz, '2017-03-24T00:00:00.0Z'::timestamptz),
    ('unexpected-multiple-outputs', 'Unexpected Multiple Outputs', 'The algorithm produced more than one output for a single output. Please see the job log for more information.', 'ALGORITHM', true, false, '2018-09-17T00:00:00.0Z'::timestamptz, '2019-09-17T00:00:00.0Z'::timestamptz);

ALTER TABLE jobs ADD COLUMN error_id bigint REFERENCES errors ON DELETE SET NULL;
ALTER TABLE jobs ADD COLUMN queued_at timestamptz;
-- The claim walks this in order and stops at the first job it may take.
CREATE INDEX jobs_scale_queue ON jobs (last_status_change, id) WHERE surface = 'scale' AND status = 'QUEUED';
CREATE INDEX jobs_error ON jobs (error_id) WHERE error_id IS NOT NULL;

CREATE SEQUENCE scale_job_number;
