#!/usr/bin/env python3
"""DuckDB baseline of `GET /analytics/v1/summary?groupBy=day` (bench/quality.sh, issue 11).

Computes, per UTC day, the same aggregates as callrecords over the Parquet export of the same store
(streams.parquet + sessions.parquet), with the same grouping rule as the quality crate (a session counts
on every day one of its streams went to, poor there when one of its audio streams of that day is poor;
a session without streams on its own day; a call on every day one of its sessions went to), times the
query (median of REPS, warm, one connection), and checks the numbers against the server's answer.

Usage: quality_duckdb.py STREAMS.parquet SESSIONS.parquet SERVER_SUMMARY.json REPS
Prints: "duckdb_ms <median> <all runs…>" and "check ok <days> days" (exits 1 on a mismatch).
"""

import json
import statistics
import sys
import time

import duckdb

streams, sessions, server, reps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

AUDIO_METRICS = ["averageAudioDegradation", "averageRoundTripTime", "averagePacketLossRate",
                 "averageJitter", "averageRatioOfConcealedSamples"]
VIDEO_METRICS = ["averageVideoFrameLossPercentage", "averageVideoFrameRate",
                 "postForwardErrorCorrectionPacketLossRate"]


def kind_cols(kind, metrics):
    cols = [f"count(*) FILTER (kind = '{kind}') AS {kind}_total"]
    for c in ["good", "poor", "unclassified"]:
        cols.append(f"count(*) FILTER (kind = '{kind}' AND class = '{c}') AS {kind}_{c}")
    for m in metrics:
        cols.append(f"count(*) FILTER (kind = '{kind}' AND class = 'poor' AND "
                    f"list_contains(string_split(poor_due_to, ','), '{m}')) AS {kind}_{m}")
    return cols


SQL = f"""
WITH st AS (SELECT * FROM read_parquet('{streams}')),
per_day AS (
  SELECT day, {", ".join(kind_cols("audio", AUDIO_METRICS) + kind_cols("video", VIDEO_METRICS)
                       + kind_cols("vbss", VIDEO_METRICS))},
         count(*) FILTER (kind = 'appSharing') AS app_total,
         count(*) FILTER (kind = 'other') AS other_total
  FROM st GROUP BY day),
sd AS (
  SELECT day, record_id, session_ordinal, bool_or(kind = 'audio' AND class = 'poor') AS poor
  FROM st GROUP BY day, record_id, session_ordinal
  UNION ALL
  SELECT s.day, s.record_id, s.session_ordinal, false
  FROM read_parquet('{sessions}') s ANTI JOIN st USING (record_id, session_ordinal)),
sess AS (
  SELECT sd.day, count(*) AS sessions_total, count(*) FILTER (sd.poor) AS sessions_poor,
         count(*) FILTER (s.failure_stage = 'callSetup') AS setup,
         count(*) FILTER (s.failure_stage = 'midcall') AS drops
  FROM sd JOIN read_parquet('{sessions}') s USING (record_id, session_ordinal)
  GROUP BY sd.day),
calls AS (
  SELECT day, count(*) AS calls_total, count(*) FILTER (poor) AS calls_poor
  FROM (SELECT day, record_id, bool_or(poor) AS poor FROM sd GROUP BY day, record_id)
  GROUP BY day)
SELECT * FROM sess LEFT JOIN per_day USING (day) LEFT JOIN calls USING (day) ORDER BY day
"""

con = duckdb.connect()
times = []
rows = None
for _ in range(reps):
    t = time.perf_counter()
    cur = con.execute(SQL)
    rows = cur.fetchall()
    times.append((time.perf_counter() - t) * 1000)
    names = [d[0] for d in cur.description]
print("duckdb_ms %.1f %s" % (statistics.median(times), " ".join("%.1f" % x for x in times)))

got = {r[0]: dict(zip(names, r)) for r in rows}
groups = json.load(open(server))["groups"]
bad = 0
for g in groups:
    d = got.get(g["key"])
    if d is None:
        print("missing day", g["key"]); bad += 1; continue
    s = g["streams"]
    want = {
        "sessions_total": g["sessions"]["total"], "sessions_poor": g["sessions"]["poor"],
        "setup": g["sessions"]["setupFailures"], "drops": g["sessions"]["dropFailures"],
        "calls_total": g["calls"]["total"], "calls_poor": g["calls"]["poor"],
        "app_total": s["appSharing"]["total"], "other_total": s["other"]["total"],
    }
    for kind, metrics in [("audio", AUDIO_METRICS), ("video", VIDEO_METRICS), ("vbss", VIDEO_METRICS)]:
        for c in ["total", "good", "poor", "unclassified"]:
            want[f"{kind}_{c}"] = s[kind][c]
        for m in metrics:
            want[f"{kind}_{m}"] = s[kind]["poorDueTo"][m]
    for k, v in want.items():
        if (d.get(k) or 0) != v:
            if bad < 10:
                print("mismatch", g["key"], k, "server", v, "duckdb", d.get(k))
            bad += 1
if len(got) != len(groups):
    print("day count differs: server", len(groups), "duckdb", len(got)); bad += 1
if bad:
    sys.exit(1)
print("check ok %d days" % len(groups))
