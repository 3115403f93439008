-- Workflow Manager's live notifications (notificationWs): every history row of a Workflow
-- Manager job is also sent on the channel `flowgate_wm_events`, at commit and in commit order,
-- to every instance, whichever one wrote it. The payload names the job and the step and says
-- what changed; the instances read the rest from the tables. A NOTIFY payload is limited to
-- 8000 bytes, so a large detail (a long error text) is cut to its action and error's start.
CREATE FUNCTION workflow_manager_notify_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('flowgate_wm_events', json_build_object(
        'id', NEW.id, 'job', NEW.job_public_id, 'step', NEW.task_key, 'event', NEW.event,
        'from', NEW.from_status, 'to', NEW.to_status, 'actor', left(NEW.actor, 200),
        'at', floor(extract(epoch FROM NEW.at) * 1000),
        'action', NEW.detail->>'action', 'error', left(NEW.detail->>'error', 2000))::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER job_events_workflow_manager_notify AFTER INSERT ON job_events
    FOR EACH ROW WHEN (NEW.surface = 'workflow_manager') EXECUTE FUNCTION workflow_manager_notify_event();
