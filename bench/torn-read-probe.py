#!/usr/bin/env python3
"""Black-box torn-read probe: one writer POSTs version after version of one call record to a running
`callrecords serve` while reader threads GET it with `$expand=sessions($expand=segments)`; every answer's
`version` must match the version written into each of its session ids. Prints the number of torn answers
and exits 1 if there was any.

    python3 bench/torn-read-probe.py http://127.0.0.1:8080 [versions] [readers]

Stdlib only. Traffic goes to the given (loopback) server only, and stops after `versions` writes.
"""
import json
import sys
import threading
import urllib.request

BASE = sys.argv[1].rstrip("/")
VERSIONS = int(sys.argv[2]) if len(sys.argv) > 2 else 400
READERS = int(sys.argv[3]) if len(sys.argv) > 3 else 4
RID = "7e1c5f2a-0000-4000-8000-70726f626521"


def record(version):
    sessions = 1 + version % 7
    return {
        "id": RID,
        "version": version,
        "type": "groupCall",
        "modalities": ["audio"],
        "lastModifiedDateTime": "2026-11-30T10:00:00Z",
        "startDateTime": "2026-11-30T09:00:00Z",
        "endDateTime": "2026-11-30T09:30:00Z",
        "sessions": [
            {
                "id": f"v{version}-s{i}",
                "modalities": ["audio"],
                "startDateTime": "2026-11-30T09:00:00Z",
                "endDateTime": "2026-11-30T09:30:00Z",
                "segments": [{"id": f"v{version}-g{i}", "startDateTime": "2026-11-30T09:00:00Z",
                              "endDateTime": "2026-11-30T09:30:00Z"}],
            }
            for i in range(sessions)
        ],
    }


def post(version):
    body = json.dumps(record(version)).encode()
    req = urllib.request.Request(f"{BASE}/ingest/callRecords", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        r.read()


done = threading.Event()
counts = {"reads": 0, "torn": 0}
lock = threading.Lock()


def reader():
    url = f"{BASE}/v1.0/communications/callRecords/{RID}?$expand=sessions($expand=segments)"
    while not done.is_set():
        with urllib.request.urlopen(url, timeout=30) as r:
            doc = json.loads(r.read())
        v = doc["version"]
        ok = len(doc["sessions"]) == 1 + v % 7 and all(
            s["id"].startswith(f"v{v}-") and s["segments"][0]["id"].startswith(f"v{v}-")
            for s in doc["sessions"])
        with lock:
            counts["reads"] += 1
            counts["torn"] += 0 if ok else 1


post(1)
threads = [threading.Thread(target=reader) for _ in range(READERS)]
for t in threads:
    t.start()
for v in range(2, VERSIONS + 1):
    post(v)
done.set()
for t in threads:
    t.join()
print(f"{counts['torn']} torn of {counts['reads']} answers ({VERSIONS} versions, {READERS} readers)")
sys.exit(1 if counts["torn"] else 0)
