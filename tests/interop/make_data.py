"""Builds the interop data set: a big meeting and the list of every record id the server must list."""
import json
import sys
from pathlib import Path

work = Path(sys.argv[1])
ids = set()
template = None
for line in (work / "gen.ndjson").read_text().splitlines():
    rec = json.loads(line)
    ids.add(rec["id"])
    if template is None and rec.get("type") == "groupCall" and rec.get("sessions"):
        template = rec
assert template is not None, "no group call generated"

big = json.loads(json.dumps(template))
big["id"] = "b16b16b1-0000-4000-8000-000000000150"
big["version"] = 1
base = template["sessions"][0]
big["sessions"] = []
for i in range(150):
    s = json.loads(json.dumps(base))
    s["id"] = f"5e55105e-0000-4000-8000-{i:012d}"
    big["sessions"].append(s)
big["participants_v2"] = [
    {"id": f"9a000000-0000-4000-8000-{i:012d}", "identity": {"user": {"id": f"9a000000-0000-4000-8000-{i:012d}", "displayName": f"P {i}"}}}
    for i in range(300)
]
(work / "big.ndjson").write_text(json.dumps(big) + "\n")
ids.add(big["id"])
ids.add("e523d2ed-2966-4b6b-925b-754a88034cc5")
(work / "ids.json").write_text(json.dumps(sorted(ids)))
