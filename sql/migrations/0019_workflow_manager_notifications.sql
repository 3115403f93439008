-- Workflow Manager's live notifications (notificationWs): every history row of a Workflow
-- Manager job is also sent on the channel `flowgate_wm_events`, at commit and in commit order,
-- to every instance, whichever one wrote it. The payload names the job and the step and says
-- what changed; the instances read the rest from the tables. A NOTIFY payload is limited to
-- 8000 bytes (beyond, the write would fail), so every text in it is cut short.
CREATE FUNCTION workflow_manager_notify_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('flowgate_wm_events', json_build_object(
        'id', NEW.id, 'job', left(NEW.job_public_id, 500), 'step', left(NEW.task_key, 500), 'event', NEW.event,
        'from', left(NEW.from_status, 100), 'to', left(NEW.to_status, 500), 'actor', left(NEW.actor, 200),
        'at', floor(extract(epoch FROM NEW.at) * 1000),
        'action', left(NEW.detail->>'action', 100), 'error', left(NEW.detail->>'error', 2000))::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER job_events_workflow_manager_notify AFTER INSERT ON job_events
    FOR EACH ROW WHEN (NEW.surface = 'workflow_manager') EXECUTE FUNCTION workflow_manager_notify_event();
