"""Drives Flowgate with the unmodified ipsdk client the way integrations start automations:
POST to an endpoint trigger's route, once with a body its schema refuses and once with a good
one, then read the spawned job back. Prints one JSON object for the calling test to check.

usage: ipsdk_endpoint_trigger.py HOST PORT USER PASSWORD ROUTE
"""
import json
import sys

import ipsdk
from ipsdk.exceptions import HTTPStatusError

host, port, user, password, route = sys.argv[1:6]
platform = ipsdk.platform_factory(host=host, port=int(port), use_tls=False, user=user, password=password)
path = f"/operations-manager/triggers/endpoint/{route}"

try:
    platform.post(path, json={"device": 42})
    refused = {"status": None}
except HTTPStatusError as error:
    refused = {"status": error.response.status_code, "body": error.response.json()}

started = platform.post(path, json={"device": "r1", "port": 22}).json()
job_id = started["data"]["_id"]
read = platform.get(f"/operations-manager/jobs/{job_id}").json()
print(json.dumps({"refused": refused, "message": started["message"], "id": job_id, "status": started["data"]["status"],
                  "variables": read["data"]["variables"]}))
