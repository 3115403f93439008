"""Workflow Manager's notificationWs through websocket-client (the library the ArcGIS client uses).
Arguments: the stack's plain-HTTP base URL, a token, org id, item id, a job id whose first step is
ready and assigned to the token's user, and the instances' WebSocket socket paths. A step action is
sent through nginx once; every instance's connection must be told of it. Prints one JSON line."""

import json
import socket
import sys
import urllib.request

import websocket

base, token, org, item, job_id = sys.argv[1:6]
sockets = sys.argv[6:]
path = f"/{org}/{item}/notificationWs"
results = {}


def connect(query=f"?token={token}", unix_path=None):
    if unix_path:
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.connect(unix_path)
        return websocket.create_connection(f"ws://localhost{path}{query}", socket=raw, timeout=5)
    return websocket.create_connection(base.replace("http", "ws", 1) + path + query, timeout=5)


def receive(connection):
    return json.loads(connection.recv())


def post(route, body):
    request = urllib.request.Request(
        f"{base}/{org}/{item}{route}", data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


# One connection straight to each instance, each following the job.
followers = []
for unix_path in sockets:
    connection = connect(unix_path=unix_path)
    assert receive(connection) == {"connected": True}
    connection.send(json.dumps({"msgType": "subscribe", "jobIds": [job_id], "token": token}))
    state = receive(connection)
    results.setdefault("subscribe_replies", []).append([state["msgType"], state["message"]["jobId"]])
    followers.append(connection)

results["run"] = post(f"/jobs/{job_id}/action", {"type": "Run"})["success"]
results["per_instance"] = [[receive(c)["msgType"], receive(c)["msgType"]] for c in followers]
for connection in followers:
    connection.send(json.dumps({"msgType": "unsubscribe", "jobIds": [job_id], "token": token}))
post(f"/jobs/{job_id}/action", {"type": "Finish"})
for connection in followers:
    connection.settimeout(1)
    try:
        results.setdefault("after_unsubscribe", []).append(connection.recv())
    except websocket.WebSocketTimeoutException:
        results.setdefault("after_unsubscribe", []).append(None)
    connection.close()

# Refusals, each in the API's message shape.
connection = connect(query="?token=not-a-token")
refused = receive(connection)
results["bad_token"] = [refused["msgType"], refused["message"]["msgCode"]]
connection.close()

connection = connect(query="")
assert receive(connection) == {"connected": True}
connection.send(json.dumps({"msgType": "subscribe", "jobIds": [job_id]}))
results["no_token"] = receive(connection)["message"]["msgCode"]
connection.close()

connection = connect()
receive(connection)
connection.send("not json")
results["not_json"] = receive(connection)["message"]["msgCode"]
connection.send(json.dumps({"msgType": "subscribe", "jobIds": [f"job-{n}" for n in range(101)], "token": token}))
results["too_many"] = receive(connection)["message"]["msg"]
connection.send(json.dumps({"msgType": "subscribe", "jobIds": ["no-such-job"], "token": token}))
results["unknown_job"] = receive(connection)["message"]["msg"]
connection.send("x" * (65 * 1024))
try:
    results["oversized"] = "closed" if connection.recv() == "" else "answered"
except (websocket.WebSocketConnectionClosedException, ConnectionError):
    results["oversized"] = "closed"

print(json.dumps(results))
