"""The ArcGIS API for Python (arcgis 2.4.4, unmodified) against Flowgate over HTTPS: Portal sign-in,
a workflow item, a diagram, a template and jobs through every call a Workflow Manager script makes.
Arguments: portal URL, username, password, a group the user is in. Prints one JSON line of results
last; any failure raises (exit status 1)."""

import json
import sys
import time

from arcgis.gis import GIS
from arcgis.gis.workflowmanager import WorkflowManager, WorkflowManagerAdmin

url, username, password, group_id = sys.argv[1:5]
results = {}
started = time.monotonic()


def timed(name, call):
    """Runs a step action and waits for its outcome over notificationWs."""
    begun = time.monotonic()
    execution = call()
    outcome = execution.result(timeout=10)
    results[name] = {"seconds": round(time.monotonic() - begun, 3), "outcome": outcome.msg_type.value}


gis = GIS(url, username, password, verify_cert=False)
results["signed_in_as"] = gis.users.me.username

admin = WorkflowManagerAdmin(gis)
item_id = admin.create_item("arcgis client test")
results["server_status"] = admin.server_status
item = gis.content.get(item_id)
results["item_type"] = item.type
wm = WorkflowManager(item)

steps = [
    {"id": "s1", "name": "Review", "action": {"actionType": "Manual"}, "paths": [{"nextStep": "s2"}]},
    {"id": "s2", "name": "Analyse", "action": {"actionType": "GP", "args": {"returnCode": "Success"}},
     "proceedNext": True, "paths": [{"nextStep": "s3"}]},
    {"id": "s3", "name": "Approve?", "action": {"actionType": "Question"},
     "paths": [{"nextStep": "s4", "expression": "Yes"}]},
    {"id": "s4", "name": "Publish", "action": {"actionType": "Manual"}, "paths": []},
]
diagram_id = wm.create_diagram("Review and publish", steps, display_grid=True)
results["initial_step"] = wm.diagram(diagram_id).initial_step_id

template_id = wm.create_job_template("Publication", "Medium", diagram_id=diagram_id, state="Draft")
template = wm.job_template(template_id)
template.state = "Active"
wm.update_job_template(template.__dict__)
results["template"] = {"state": wm.job_template(template_id).state, "diagram_name": wm.job_template(template_id).diagram_name}

job_id = wm.jobs.create(template_id, name="First", assigned="User", owner=username)[0]
other_id = wm.jobs.create(template_id, name="Second")[0]
job = wm.jobs.get(job_id)
job.update_step("s1", "User", username)

timed("run_manual", lambda: job.run())
timed("finish_manual", lambda: job.finish())
timed("run_gp", lambda: job.run())
timed("run_question", lambda: job.run())
timed("stop_question", lambda: job.stop())
results["set_current_step"] = job.set_current_step("s4")
job = wm.jobs.get(job_id)
results["current_steps"] = [step["stepId"] for step in job.current_steps]

# Holds of the three kinds, each released.
job.add_hold(["s4"])
job.release_hold(["s4"])
job.add_hold(["s4"], hold_scheduled_release="2099-01-01T00:00:00Z")
job.release_hold(["s4"])
job.add_hold(["s4"], dependent_job_id=other_id)
held = wm.jobs.get(job_id)
results["holds"] = len(held.holds)
job.release_hold(["s4"], dependent_job_id=other_id)

results["comment_id"] = job.add_comment("looks good")
results["comments"] = [comment["comment"] for comment in job.comments]
results["update"] = wm.jobs.update(job_id, {"priority": "High", "description": "updated by arcgis"})
results["priority"] = wm.jobs.get(job_id).priority
results["history_actions"] = [entry["action"] for entry in job.history["job_history"]]
found = wm.jobs.search(query="priority='High'", fields="jobId,jobName")
results["search"] = [row[0] for row in found["results"]]
results["statistics"] = wm.jobs.statistics(query="closed=0", group_by="priority")

timed("run_last", lambda: wm.jobs.get(job_id).run())
timed("finish_last", lambda: wm.jobs.get(job_id).finish())
results["closed_after_finish"] = wm.jobs.get(job_id).closed
results["close"] = wm.jobs.close([other_id])
results["reopen"] = wm.jobs.reopen([other_id])
results["delete"] = wm.jobs.delete([other_id])

wm.create_wm_role("Reviewers", "Reviews publications", ["jobUpdateNotes"])
results["roles"] = sorted(role.role_name for role in wm.wm_roles)
results["update_group"] = wm.update_group(group_id, {"adds": {"roles": ["Reviewers"]}})
results["group_roles"] = wm.group(group_id).roles

results["total_seconds"] = round(time.monotonic() - started, 2)
print(json.dumps(results, default=str))
