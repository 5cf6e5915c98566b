#!/usr/bin/env python3
"""Writes a /v1/normalize request body of N records cycled from the bundled samples.

usage: make_body.py SAMPLES_DIR N [MIX]
MIX is a comma-separated subset of panos,syslog,windows,junk,cloudtrail (default: all of them);
CloudTrail events are sent as one-line JSON text."""
import json
import sys
from pathlib import Path

samples = Path(sys.argv[1])
n = int(sys.argv[2])
mix = (sys.argv[3] if len(sys.argv) > 3 else "") or "panos,syslog,windows,junk,cloudtrail"
pool = []
for kind in mix.split(","):
    if kind == "cloudtrail":
        pool += [json.dumps(r, separators=(",", ":"))
                 for r in json.loads((samples / "cloudtrail.json").read_text())["Records"]]
    else:
        pool += [l for l in (samples / f"{kind}.log").read_text().splitlines() if l.strip()]
records = [pool[i % len(pool)] for i in range(n)]
json.dump({"records": records}, sys.stdout, separators=(",", ":"))
