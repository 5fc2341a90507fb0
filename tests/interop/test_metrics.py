"""`/metrics` read by Prometheus' own Python parser (prometheus_client's OpenMetrics parser, strict about the
format), after a workload whose counts the test knows: the deltas must equal the workload (see run.sh)."""
import json
import os
import urllib.error
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families

URL = os.environ["CALLRECORDS_URL"]
DOC = "e523d2ed-2966-4b6b-925b-754a88034cc5"
RECORD_ROUTE = "/v1.0/communications/callRecords/{id}"


def call(method, path, body=None, ctype="application/json"):
    req = urllib.request.Request(URL + path, data=body, method=method, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def scrape():
    status, body = call("GET", "/metrics")
    assert status == 200
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_parse_and_count_the_workload():
    before = scrape()
    for _ in range(7):
        assert call("GET", f"/v1.0/communications/callRecords/{DOC}")[0] == 200
    for i in range(3):
        assert call("GET", f"/v1.0/communications/callRecords/missing-{i}")[0] == 404
    lines = [
        {"id": "metrics-a", "version": 1, "startDateTime": "2026-01-05T10:00:00Z"},
        {"id": "metrics-b", "version": 1, "startDateTime": "2026-01-05T10:00:00Z"},
        {"id": "metrics-a", "version": 1, "startDateTime": "2026-01-05T10:00:00Z"},
    ]
    body = "\n".join(json.dumps(l) for l in lines).encode()
    status, answer = call("POST", "/ingest/callRecords", body, "application/x-ndjson")
    assert status == 200, answer
    after = scrape()

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    get = dict(method="GET", route=RECORD_ROUTE)
    assert delta("callrecords_http_requests_total", status="200", **get) == 7
    assert delta("callrecords_http_requests_total", status="404", **get) == 3
    assert delta("callrecords_http_request_duration_seconds_count", **get) == 10
    assert delta("callrecords_http_requests_total", method="POST", route="/ingest/{kind}", status="200") == 1
    assert delta("callrecords_ingested_items_total", kind="callRecord", outcome="stored") == 2
    assert delta("callrecords_ingested_items_total", kind="callRecord", outcome="duplicate") == 1
    # Buckets are cumulative and end at the count.
    buckets = sorted(
        (float(dict(k[1])["le"]), v)
        for k, v in after.items()
        if k[0] == "callrecords_http_request_duration_seconds_bucket"
        and dict(k[1]).get("route") == RECORD_ROUTE
    )
    counts = [v for _, v in buckets]
    assert counts == sorted(counts) and counts[-1] == value(after, "callrecords_http_request_duration_seconds_count", **get)
