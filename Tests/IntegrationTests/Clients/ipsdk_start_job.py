"""Drives Flowgate with the unmodified ipsdk client: log in, start a job of a workflow, read
it back. Prints one JSON object for the calling test to check.

usage: ipsdk_start_job.py HOST PORT USER PASSWORD WORKFLOW
"""
import json
import sys

import ipsdk

host, port, user, password, workflow = sys.argv[1:6]
platform = ipsdk.platform_factory(host=host, port=int(port), use_tls=False, user=user, password=password)
started = platform.post("/operations-manager/jobs/start",
                        json={"workflow": workflow, "options": {"description": "ipsdk", "variables": {"x": 1}}}).json()
job_id = started["data"]["_id"]
read = platform.get(f"/operations-manager/jobs/{job_id}").json()
print(json.dumps({"id": job_id, "started_status": started["data"]["status"], "message": started["message"],
                  "read_id": read["data"]["_id"], "read_name": read["data"]["name"],
                  "variables": read["data"]["variables"]}))
