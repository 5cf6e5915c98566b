#!/usr/bin/env python3
"""Bundled workload generator for benches/e2e, used when ../shared/bench/gen_workload.py is absent.

Same command line and output as that script, but its templates are the project's own samples in
examples/samples/ (a handful of lines per source type), varied so that no two lines are alike:
addresses (a share of them in enrichment-data's GeoIP and IOC examples), ports, process ids,
user and host names, record and session ids, times of day.

  gen.py --mix syslog=40,panos=40,cloudtrail=10,windows=10 --count 1000000 --out w1.log
  gen.py --mix syslog=100 --count 1000000 --out w2.log

Deterministic for a given --seed. Writes OUT.labels (one source type per line) beside OUT.
With few templates the data is more repetitive than the corpus-based workload, so figures from the
two are not directly comparable.
"""
import argparse
import json
import os
import random
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.join(HERE, "..", "..", "examples", "samples")
IPV4 = re.compile(rb"\b(?:\d{1,3}\.){3}\d{1,3}\b")
# Addresses that enrichment-data/ knows: a GeoIP network and IOC entries (addresses and a CIDR).
KNOWN = [b"93.184.216.34", b"93.184.216.80", b"198.51.100.77", b"198.51.100.23", b"203.0.113.50",
         b"203.0.113.61"]
USERS = [b"alice", b"bob", b"deploy", b"oracle", b"root", b"svc_report", b"jdoe", b"asmith", b"admin"]
HOSTS = [b"bastion-01", b"app-03", b"web-02.example.net", b"db-01", b"nas-01", b"fw-edge-01",
         b"fw-edge-02", b"app-07", b"mail-01"]


def read(name):
    with open(os.path.join(SAMPLES, name), "rb") as f:
        return f.read()


def templates():
    lines = lambda name: [l for l in read(name).splitlines() if l.strip() and not l.startswith(b"#")]
    records = json.loads(read("cloudtrail.json"))["Records"]
    return {
        "syslog": lines("syslog.log"),
        "panos": lines("panos.log"),
        "cloudtrail": [json.dumps(r, separators=(",", ":")).encode() for r in records],
        "windows": lines("windows.log"),
    }


def vary(line, rng, label):
    def ip(_):
        if rng.random() < 0.2:
            return rng.choice(KNOWN)
        return b"%d.%d.%d.%d" % (rng.choice([10, 172, 192, 81, 89, 198, 203]), rng.randrange(256),
                                 rng.randrange(256), rng.randrange(1, 255))

    num = lambda lo, hi: lambda m: m.group(1) + b"%d" % rng.randrange(lo, hi)
    line = IPV4.sub(ip, line)
    line = re.sub(rb"(port )\d+", num(1024, 65535), line)
    line = re.sub(rb"(\[)\d+(?=\])", num(100, 99999), line)
    line = re.sub(rb"\b(\d\d:)\d\d:\d\d", lambda m: m.group(1) + b"%02d:%02d" % (rng.randrange(60), rng.randrange(60)), line)
    if label == "syslog":
        line = re.sub(rb"(for (?:invalid user )?)\w+", lambda m: m.group(1) + rng.choice(USERS), line)
        line = re.sub(rb"^(<\d+>(?:1 \S+|\w{3} [ \d]\d \S+) )\S+", lambda m: m.group(1) + rng.choice(HOSTS), line)
    elif label == "panos":
        # The session id (column 23 of TRAFFIC/THREAT) and the sequence number.
        cols = line.split(b",")
        if len(cols) > 23 and cols[22].isdigit():
            cols[22] = b"%d" % rng.randrange(1, 10**6)
        line = b",".join(cols)
    elif label == "windows":
        line = re.sub(rb"(<EventRecordID>)\d+", num(1, 10**7), line)
        line = re.sub(rb"(ProcessID=')\d+", num(4, 9999), line)
        line = re.sub(rb"(ThreadID=')\d+", num(4, 9999), line)
    elif label == "cloudtrail":
        line = re.sub(rb'("eventID":")[0-9a-f-]+',
                      lambda m: m.group(1) + ("%08x-%04x-%04x-%04x-%012x" % tuple(
                          rng.getrandbits(b) for b in (32, 16, 16, 16, 48))).encode(), line)
        line = re.sub(rb'("userName":")\w+', lambda m: m.group(1) + rng.choice(USERS), line)
    return line


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mix", default="syslog=40,panos=40,cloudtrail=10,windows=10")
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    mix = [(k, int(v)) for k, v in (p.split("=") for p in a.mix.split(","))]
    pool = templates()
    for k, _ in mix:
        if not pool.get(k):
            sys.exit(f"no templates for {k} (expected one of {', '.join(pool)})")
    labels = [k for k, _ in mix]
    weights = [w for _, w in mix]
    size = 0
    with open(a.out, "wb") as out, open(a.out + ".labels", "w") as lab:
        for _ in range(a.count):
            k = rng.choices(labels, weights)[0]
            line = vary(rng.choice(pool[k]), rng, k)
            out.write(line + b"\n")
            lab.write(k + "\n")
            size += len(line) + 1
    print(f"{a.out}: {a.count} lines, {size} bytes, avg {size / a.count:.0f} bytes/line; templates: "
          + ", ".join(f"{k}={len(pool[k])}" for k, _ in mix))


if __name__ == "__main__":
    main()
