#!/usr/bin/env python3
"""End-to-end benchmark of the release binary, run as a user runs it. Start it with
`bash benches/e2e/run.sh` (see there for the options); this is the part that does the work.

Runs, on generated workloads (W1 mixed, W2 syslog only):
  run        `sluice run -c` with a file input (read_from: beginning) and a file output: detection,
             ECS, and for W1 GeoIP (a .mmdb built by `sluice build-mmdb`) and IOC enrichment with
             enrichment-data/; waits until every record is in the output, then SIGTERM.
  normalize  `sluice normalize -c <same config> IN -o OUT`.
  W3         W1 over a syslog TCP input (newline framing) at half the W1 `run` rate: latency from
             receive to output write, from Sluice's `sluice_end_to_end_latency_seconds` histogram and
             from the outside (send time of the n-th line against the time the n-th output line
             appeared).
  soak       (--soak SECONDS) W1 replayed in a loop through a file input; RSS every few seconds.

CPU is the Sluice process's user + system time (/proc/<pid>/stat for `run`, taken when the last
record is out; wait4's rusage for `normalize`), so records per CPU-second hold on a shared machine
where wall-clock rates do not.
"""
import argparse
import datetime
import glob
import itertools
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SHARED_GEN = os.path.join(ROOT, "..", "shared", "bench", "gen_workload.py")
BUNDLED_GEN = os.path.join(ROOT, "benches", "e2e", "gen.py")
W1_MIX = "syslog=40,panos=40,cloudtrail=10,windows=10"
W2_MIX = "syslog=100"
TICK = os.sysconf("SC_CLK_TCK")


class Failure(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def proc_cpu(pid):
    """User + system CPU seconds of a running process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_status(pid, key):
    """A kB value of /proc/<pid>/status (VmRSS, VmHWM) in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


class LineCounter:
    """Counts newlines written to `path` and the files it is rotated to (`path.N`), reading only
    what is new each time; files are told apart by inode so a rename does not count twice."""

    def __init__(self, path, delete_rotated=False):
        self.path = path
        self.delete_rotated = delete_rotated
        self.seen = {}  # inode -> (bytes read, lines)
        self.retired = 0  # lines of deleted files
        self.bytes = 0

    def count(self):
        for p in glob.glob(glob.escape(self.path) + "*"):
            try:
                fd = os.open(p, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                ino = os.fstat(fd).st_ino
                off, n = self.seen.get(ino, (0, 0))
                os.lseek(fd, off, os.SEEK_SET)
                while True:
                    chunk = os.read(fd, 1 << 20)
                    if not chunk:
                        break
                    n += chunk.count(b"\n")
                    off += len(chunk)
                    self.bytes += len(chunk)
                self.seen[ino] = (off, n)
            finally:
                os.close(fd)
            if self.delete_rotated and p != self.path:
                # Rotated away, so complete: count it and forget its inode, which may be reused.
                os.unlink(p)
                self.retired += self.seen.pop(ino)[1]
        return self.retired + sum(n for _, n in self.seen.values())


class Sluice:
    """`sluice run -c CONFIG` in the background, its stderr in a file."""

    def __init__(self, bin_, config, work, name):
        self.log_path = os.path.join(work, f"{name}.sluice.log")
        self.log = open(self.log_path, "wb")
        env = dict(os.environ, NO_COLOR="1")
        self.started = time.monotonic()
        self.proc = subprocess.Popen([bin_, "run", "-c", config], stdout=subprocess.DEVNULL,
                                     stderr=self.log, env=env)
        self.pid = self.proc.pid

    def logged(self, pattern, timeout=30):
        """The first match of `pattern` in the log (waiting for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log_path, "rb") as f:
                m = re.search(pattern, re.sub(rb"\x1b\[[0-9;]*m", b"", f.read()))
            if m:
                return m.group(1).decode()
            self.check_alive()
            time.sleep(0.05)
        raise Failure(f"sluice did not log {pattern!r} within {timeout}s; see {self.log_path}")

    def check_alive(self):
        if self.proc.poll() is not None:
            raise Failure(f"sluice exited early with {self.proc.returncode}; see {self.log_path}")

    def metrics(self, api):
        with urllib.request.urlopen(f"http://{api}/metrics", timeout=10) as r:
            return r.read().decode()

    def stop(self, timeout=120):
        """SIGTERM, wait; returns (exit code, rusage of the whole life)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, ru = os.wait4(self.pid, os.WNOHANG)
            if pid:
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                self.proc.kill()
                raise Failure(f"sluice did not exit within {timeout}s of SIGTERM")
            time.sleep(0.05)
        self.log.close()
        return self.proc.returncode, ru

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def config(work, name, inputs_yaml, enrich, out_path, api=True, batch_size=None, threads=None):
    data = os.path.join(work, "conf", f"data-{name}")
    # A fresh start: checkpoints left by an earlier run in the same --work would have the file
    # input skip the workload as already read, and the run wait out its timeout.
    shutil.rmtree(data, ignore_errors=True)
    lines = [f"data_dir: {data}",
             "log:",
             "  level: warn,sluice::api=info,sluice::inputs::syslog=info"]
    if api:
        lines += ["api:", "  listen: 127.0.0.1:0"]
    if enrich or batch_size or threads:
        lines += ["pipeline:"]
    if batch_size:
        lines += [f"  batch_size: {batch_size}"]
    if threads:
        lines += [f"  threads: {threads}"]
    if enrich:
        lines += ["  enrich:",
                  "    geoip:", "      databases:", f"        - path: {enrich['mmdb']}",
                  "    ioc:", "      files: [" + ", ".join(enrich["ioc"]) + "]"]
    lines += ["inputs:", "  src:"] + ["    " + l for l in inputs_yaml]
    lines += ["outputs:", "  sink:", "    type: file", "    inputs: [src]", f'    path: "{out_path}"']
    # Its own directory: Sluice watches the configuration's directory, and every write to (or read
    # of) an output there would wake that watcher.
    path = os.path.join(work, "conf", f"{name}.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def count_lines(path):
    n = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                return n
            n += chunk.count(b"\n")


def histogram(metrics_text, name):
    """Cumulative buckets [(le, count)] of a histogram, all series summed."""
    buckets = {}
    for line in metrics_text.splitlines():
        if line.startswith(name + "_bucket{"):
            le = re.search(r'le="([^"]+)"', line).group(1)
            buckets[float(le)] = buckets.get(float(le), 0) + float(line.rsplit(" ", 1)[1])
    return sorted(buckets.items())


def bucket_quantile(buckets, q):
    """Prometheus' histogram_quantile: linear within the bucket that holds the q-th observation."""
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    prev_le, prev_n = 0.0, 0.0
    for le, n in buckets:
        if n >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_n) / max(n - prev_n, 1e-9)
        prev_le, prev_n = le, n
    return prev_le


def metric_sum(metrics_text, name, label_filter=""):
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {") and label_filter in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_for_output(sluice, counter, want, timeout, what):
    """Polls the output until it holds `want` lines; returns (seconds since start, CPU seconds)."""
    deadline = time.monotonic() + timeout
    last = -1
    while True:
        n = counter.count()
        if n >= want:
            return time.monotonic() - sluice.started, proc_cpu(sluice.pid)
        sluice.check_alive()
        if time.monotonic() > deadline:
            raise Failure(f"{what}: {n} of {want} records out after {timeout}s")
        if n != last:
            last = n
        time.sleep(0.1)


def slug(name):
    return name.lower().replace(" ", "-")


def file_run(a, bin_, work, name, workload, enrich):
    """`sluice run` file → file; returns a result row."""
    out = os.path.join(work, "out", f"{slug(name)}.out.ndjson")
    cfg = config(work, slug(name), ["type: file", f'include: ["{workload["path"]}"]', "read_from: beginning"],
                 enrich, out)
    log(f"{name}: sluice run, {workload['lines']} records")
    s = Sluice(bin_, cfg, work, slug(name))
    try:
        api = s.logged(rb"API listening address=(\S+)")
        counter = LineCounter(out)
        wall, cpu = wait_for_output(s, counter, workload["lines"], a.timeout, name)
        hwm = proc_status(s.pid, "VmHWM")
        metrics = s.metrics(api)
        code, ru = s.stop()
    finally:
        s.kill()
    got = counter.count()
    if code != 0:
        raise Failure(f"{name}: sluice exited with {code}; see {s.log_path}")
    row = result(name, workload, got, wall, cpu, max(hwm, ru.ru_maxrss / 1024), counter.bytes)
    row["cpu_total"] = ru.ru_utime + ru.ru_stime
    row["metrics"] = metrics
    remove_output(out)
    return row


def normalize_run(a, bin_, work, name, workload, cfg):
    out = os.path.join(work, "out", f"{slug(name)}.out.ndjson")
    log(f"{name}: sluice normalize, {workload['lines']} records")
    started = time.monotonic()
    with open(os.path.join(work, f"{slug(name)}.stderr"), "wb") as err:
        proc = subprocess.Popen([bin_, "normalize", "-c", cfg, workload["path"], "-o", out],
                                stdout=subprocess.DEVNULL, stderr=err, env=dict(os.environ, NO_COLOR="1"))
        _, status, ru = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise Failure(f"{name}: sluice normalize exited with {proc.returncode}")
    got = count_lines(out)
    row = result(name, workload, got, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024,
                 os.path.getsize(out))
    remove_output(out)
    return row


def remove_output(out):
    for p in glob.glob(glob.escape(out) + "*"):
        os.unlink(p)


def result(name, workload, got, wall, cpu, rss_mb, out_bytes):
    n = workload["lines"]
    row = {"run": name, "records": n, "out": got, "wall": wall, "cpu": cpu,
           "rate": n / wall, "per_cpu": n / cpu if cpu else float("nan"),
           "mbps": workload["bytes"] / 1e6 / wall, "rss": rss_mb, "out_mb": out_bytes / 1e6,
           "ok": got == n}
    log(f"  {n} in, {got} out, {wall:.2f} s wall, {cpu:.2f} CPU-s, {row['per_cpu']:,.0f} records/CPU-s, "
        f"peak RSS {rss_mb:.0f} MB")
    if got != n:
        raise Failure(f"{name}: {got} records out for {n} in")
    return row


class Paced(threading.Thread):
    """Sends the first `limit` lines of `path` over TCP at `rate` lines/s in small bursts;
    remembers (lines sent so far, time) after each burst.

    The lines are read into memory before the clock starts and each burst is one slice of them:
    the sender shares the machine with Sluice, and reading line by line while sending cost it a
    quarter of a core at 140,000 lines/s."""

    def __init__(self, addr, path, rate, limit):
        super().__init__(daemon=True)
        self.addr, self.rate = addr, rate
        with open(path, "rb") as f:
            self.data = f.read()
        lines = self.data.splitlines(keepends=True)[:limit]
        self.ends = [0, *itertools.accumulate(len(l) for l in lines)]
        self.limit = len(lines)
        self.marks = []
        self.error = None

    def run(self):
        try:
            host, port = self.addr.rsplit(":", 1)
            sock = socket.create_connection((host.strip("[]"), int(port)))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            view = memoryview(self.data)
            sent = 0
            start = time.monotonic()
            while sent < self.limit:
                due = min(self.limit, int((time.monotonic() - start) * self.rate) + 1)
                if due <= sent:
                    time.sleep(0.001)
                    continue
                sock.sendall(view[self.ends[sent]:self.ends[due]])
                sent = due
                self.marks.append((sent, time.monotonic()))
            view.release()
            sock.close()
        except Exception as e:  # reported by the caller
            self.error = e


class Watcher(threading.Thread):
    """Watches the output grow; remembers (file, bytes in it so far, time) whenever its size
    changed. Sizes, not lines: counting lines as they came read the whole output while Sluice
    wrote it, a fifth of a core at W3's rate. `line_marks` turns sizes into lines afterwards."""

    def __init__(self, out):
        super().__init__(daemon=True)
        self.out = out
        self.marks = []
        self.stop = threading.Event()

    def size(self):
        """(inode, size) of the output file; the file output rotates it to `out.N` by size."""
        try:
            st = os.stat(self.out)
            return st.st_ino, st.st_size
        except FileNotFoundError:
            return None, 0

    def run(self):
        last = (None, 0)
        while not self.stop.is_set():
            now = self.size()
            if now != last and now[0] is not None:
                self.marks.append((*now, time.monotonic()))
                last = now
            time.sleep(0.002)

    def line_marks(self):
        """(complete lines out so far, time) for each size seen, from the finished output and its
        rotated files; None when a file came and went between two looks."""
        paths = {}
        for p in glob.glob(glob.escape(self.out) + "*"):
            paths[os.stat(p).st_ino] = p
        marks, before, lines, at, ino, data = [], 0, 0, 0, None, b""
        for i, size, t in self.marks:
            if i != ino:
                if ino is not None:
                    before += lines + data.count(b"\n", at)
                if i not in paths:
                    return None
                with open(paths[i], "rb") as f:
                    data = f.read()
                ino, lines, at = i, 0, 0
            lines += data.count(b"\n", at, size)
            at = size
            marks.append((before + lines, t))
        return marks


def outside_latencies(sent_marks, out_marks, n):
    """Latency of the i-th output line against the send time of the i-th line sent (records of one
    batch keep their order; batches may overtake each other, so this is approximate)."""
    lat = []
    si = oi = 0
    for i in range(1, n + 1):
        while si < len(sent_marks) and sent_marks[si][0] < i:
            si += 1
        while oi < len(out_marks) and out_marks[oi][0] < i:
            oi += 1
        if si == len(sent_marks) or oi == len(out_marks):
            break
        lat.append(out_marks[oi][1] - sent_marks[si][1])
    lat.sort()
    return lat


def pct(sorted_vals, q):
    if not sorted_vals:
        return None
    return sorted_vals[min(len(sorted_vals) - 1, int(q * len(sorted_vals)))]


def latency_run(a, bin_, work, workload, enrich, rate):
    name = "W3 syslog TCP"
    out = os.path.join(work, "out", "w3.out.ndjson")
    limit = workload["lines"] if not a.w3_seconds else min(workload["lines"], int(rate * a.w3_seconds))
    syslog = ["type: syslog", "mode: tcp", "listen: 127.0.0.1:0", "framing: non_transparent",
              "max_message_bytes: 1048576"]
    if a.w3_batch_timeout:
        syslog.append(f"batch_timeout: {a.w3_batch_timeout}")
    cfg = config(work, "w3", syslog, enrich, out, batch_size=a.w3_batch_size, threads=a.w3_threads)
    log(f"W3: {limit} W1 records over syslog TCP at {rate:,.0f} records/s"
        + (f", pipeline.batch_size {a.w3_batch_size}" if a.w3_batch_size else "")
        + (f", batch_timeout {a.w3_batch_timeout}" if a.w3_batch_timeout else "")
        + (f", pipeline.threads {a.w3_threads}" if a.w3_threads else ""))
    s = Sluice(bin_, cfg, work, "w3")
    try:
        api = s.logged(rb"API listening address=(\S+)")
        addr = s.logged(rb"syslog input listening.*?address=(\S+)")
        watcher = Watcher(out)
        watcher.start()
        sender = Paced(addr, workload["path"], rate, limit)
        started = time.monotonic()
        cpu0 = proc_cpu(s.pid)
        sender.start()
        sender.join()
        if sender.error:
            raise Failure(f"W3 sender: {sender.error}")
        send_secs = time.monotonic() - started
        deadline = time.monotonic() + a.timeout
        # Lines are counted only when the output has stopped growing, so that counting does not
        # compete with the last batches.
        counter, size, got = LineCounter(out), -1, 0
        while got < limit:
            s.check_alive()
            if time.monotonic() > deadline:
                raise Failure(f"W3: {counter.count()} of {limit} records out")
            time.sleep(0.01)
            now = watcher.size()
            if now == size:
                got = counter.count()
            size = now
        time.sleep(0.05)
        watcher.stop.set()
        watcher.join()
        cpu = proc_cpu(s.pid) - cpu0
        wall = time.monotonic() - started
        metrics = s.metrics(api)
        code, ru = s.stop()
    finally:
        s.kill()
    got = counter.count()
    out_marks = watcher.line_marks()
    remove_output(out)
    if code != 0:
        raise Failure(f"W3: sluice exited with {code}; see {s.log_path}")
    if got != limit:
        raise Failure(f"W3: {got} records out for {limit} sent")
    buckets = histogram(metrics, "sluice_end_to_end_latency_seconds")
    inside = {q: bucket_quantile(buckets, q) for q in (0.5, 0.99, 0.999)}
    # A rotated file missed between two looks leaves the outside figures out.
    complete = bool(out_marks) and out_marks[-1][0] == got
    lat = outside_latencies(sender.marks, out_marks, limit) if complete else []
    outside = {q: pct(lat, q) for q in (0.5, 0.99, 0.999)}
    # Where a batch's time goes: detection + normalization, and the output's write.
    parts = {m: {q: bucket_quantile(histogram(metrics, m), q) for q in (0.5, 0.99)}
             for m in ("sluice_batch_processing_seconds", "sluice_output_write_seconds")}
    row = {"run": name, "records": limit, "out": got, "rate_sent": limit / send_secs, "target": rate,
           "parts": parts, "batch_size": a.w3_batch_size,
           "wall": wall, "cpu": cpu, "per_cpu": limit / cpu if cpu else float("nan"),
           "rss": ru.ru_maxrss / 1024, "inside": inside, "outside": outside,
           "batches": buckets[-1][1] if buckets else 0, "ok": True}
    log(f"  sent {row['rate_sent']:,.0f}/s; p50/p99/p999 inside "
        + "/".join(ms(v) for v in inside.values()) + " ms, outside " + "/".join(ms(v) for v in outside.values()) + " ms")
    return row


def ms(v):
    return "-" if v is None else f"{v * 1000:.1f}"


def soak(a, bin_, work, workload, enrich):
    """W1 replayed in a loop through a file input for `a.soak` seconds; RSS sampled."""
    indir = os.path.join(work, "soak-in")
    os.makedirs(indir, exist_ok=True)
    out = os.path.join(work, "out", "soak.out.ndjson")
    cfg = config(work, "soak", ["type: file", f'include: ["{indir}/*.log"]', "read_from: beginning"],
                 enrich, out)
    n = workload["lines"]
    log(f"soak: W1 ({n} records) in a loop for {a.soak} s, RSS every {a.soak_interval} s")
    copies = 0

    def add_copy():
        nonlocal copies
        # A copy, not a link: a new inode and a new file to Sluice.
        shutil.copyfile(workload["path"], os.path.join(indir, f"w1-{copies}.log"))
        copies += 1

    add_copy()
    add_copy()
    s = Sluice(bin_, cfg, work, "soak")
    samples = []
    counter = LineCounter(out, delete_rotated=True)
    done = 0
    stop = threading.Event()

    def sample():
        # Its own thread, so that copying W1 (hundreds of MB) does not leave gaps.
        while not stop.wait(a.soak_interval):
            samples.append((time.monotonic() - s.started, proc_status(s.pid, "VmRSS"), done))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        while time.monotonic() - s.started < a.soak:
            s.check_alive()
            done = counter.count()
            # Keep two copies ahead of the output; remove those fully delivered.
            while done >= (copies - 1) * n:
                old = os.path.join(indir, f"w1-{copies - 2}.log")
                if os.path.exists(old):
                    os.unlink(old)
                add_copy()
            time.sleep(0.2)
        stop.set()
        sampler.join()
        done = counter.count()
        samples.append((time.monotonic() - s.started, proc_status(s.pid, "VmRSS"), done))
        cpu = proc_cpu(s.pid)
        code, _ = s.stop()
    finally:
        stop.set()
        s.kill()
    remove_output(out)
    shutil.rmtree(indir, ignore_errors=True)
    if code != 0:
        raise Failure(f"soak: sluice exited with {code}")
    with open(os.path.join(a.results_dir, "soak-rss.csv"), "w") as f:
        f.write("seconds,rss_mb,records_out\n")
        for t, r, d in samples:
            f.write(f"{t:.1f},{r:.1f},{d}\n")
    rss = [r for _, r, _ in samples]
    row = {"seconds": samples[-1][0], "records": samples[-1][2], "first": rss[0], "last": rss[-1],
           "max": max(rss), "after_first_loop": None, "cpu": cpu}
    # RSS once the first loop is through: the start-up growth is over by then.
    later = [r for t, r, d in samples if d >= n]
    if later:
        row["after_first_loop"] = later[0]
    log(f"  {row['records']} records in {row['seconds']:.0f} s; RSS first {row['first']:.0f} MB, "
        f"last {row['last']:.0f} MB, max {row['max']:.0f} MB")
    return row


def generate(a, work, name, mix):
    path = os.path.join(work, f"{name}.log")
    gen = SHARED_GEN if os.path.exists(SHARED_GEN) and not a.bundled_generator else BUNDLED_GEN
    log(f"generating {name} ({mix}, {a.count} lines) with {os.path.relpath(gen, ROOT)}")
    subprocess.run([sys.executable, gen, "--mix", mix, "--count", str(a.count), "--out", path],
                   check=True, stdout=subprocess.DEVNULL)
    return {"path": path, "lines": count_lines(path), "bytes": os.path.getsize(path),
            "generator": os.path.relpath(gen, ROOT)}


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}"


def table(rows, w3, soak_row, info):
    out = [f"Sluice end-to-end benchmark, {info['date']}, commit {info['commit']}, {info['machine']}, "
           f"load average {info['load_before']} before / {info['load_after']} after. Workloads from "
           f"`{info['generator']}`: W1 {info['w1']}, W2 {info['w2']}.", "",
           "| run | records | wall s | records/s (wall) | CPU s | records per CPU-second | input MB/s | peak RSS MB | out == in |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        out.append(f"| {r['run']} | {r['records']:,} | {r['wall']:.2f} | {r['rate']:,.0f} | {r['cpu']:.2f} | "
                   f"**{r['per_cpu']:,.0f}** | {r['mbps']:.1f} | {r['rss']:.0f} | {'yes' if r['ok'] else 'NO'} |")
    if w3:
        out += ["", "| W3 latency | records | sent/s (target) | CPU s | records per CPU-second | p50 ms | p99 ms | p99.9 ms | outside p50 / p99 / p99.9 ms | out == in |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
        i, o = w3["inside"], w3["outside"]
        label = f"W1 over syslog TCP, batch_size {w3['batch_size']}" if w3["batch_size"] else "W1 over syslog TCP"
        out.append(f"| {label} | {w3['records']:,} | {w3['rate_sent']:,.0f} ({w3['target']:,.0f}) | {w3['cpu']:.2f} | "
                   f"{w3['per_cpu']:,.0f} | {ms(i[0.5])} | {ms(i[0.99])} | {ms(i[0.999])} | "
                   f"{ms(o[0.5])} / {ms(o[0.99])} / {ms(o[0.999])} | yes |")
        out += ["", "W3 p50/p99/p99.9: `sluice_end_to_end_latency_seconds` (per batch, from its receive "
                "time to the output's write; interpolated within buckets). Outside: the n-th output line "
                "against the send time of the n-th line sent, watched every 2 ms. Per batch, p50 / p99: "
                "processing (`sluice_batch_processing_seconds`) "
                + " / ".join(ms(v) for v in w3["parts"]["sluice_batch_processing_seconds"].values())
                + " ms, output write (`sluice_output_write_seconds`) "
                + " / ".join(ms(v) for v in w3["parts"]["sluice_output_write_seconds"].values()) + " ms."]
    if soak_row:
        after = soak_row["after_first_loop"]
        out += ["", f"Soak: {soak_row['records']:,} records in {soak_row['seconds']:.0f} s (W1 in a loop): RSS first "
                f"{soak_row['first']:.0f} MB, after the first loop {'-' if after is None else f'{after:.0f}'} MB, "
                f"last {soak_row['last']:.0f} MB, max {soak_row['max']:.0f} MB."]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1_000_000, help="lines per workload (default 1,000,000)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 20,000 lines")
    ap.add_argument("--only", default="w1,w2,w3", help="which of w1, w2, w3 (comma-separated)")
    ap.add_argument("--w3-rate", type=float, help="W3 records/s (default: half the W1 run rate)")
    ap.add_argument("--w3-seconds", type=float, default=60, help="send at most this long in W3 (0: all of W1)")
    ap.add_argument("--w3-batch-size", type=int, help="pipeline.batch_size for W3 (default: Sluice's, 512)")
    ap.add_argument("--w3-batch-timeout", help="the syslog input's batch_timeout for W3, e.g. 1ms (default: Sluice's, 2ms)")
    ap.add_argument("--w3-threads", type=int, help="pipeline.threads for W3 (default: Sluice's, one per core)")
    ap.add_argument("--soak", type=float, default=0, help="also run the memory-flatness check this long (s)")
    ap.add_argument("--soak-interval", type=float, default=5)
    ap.add_argument("--bundled-generator", action="store_true", help="use benches/e2e/gen.py even if ../shared is there")
    ap.add_argument("--work", help="work directory (kept); default a temporary one, removed")
    ap.add_argument("--results", help="results file (default $CARGO_TARGET_DIR/e2e/results.md)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds to wait for a run's output")
    ap.add_argument("--bin", required=True)
    a = ap.parse_args()
    if a.quick:
        a.count = 20_000
    only = set(a.only.split(","))
    if not os.access(a.bin, os.X_OK):
        log(f"FAILED: no binary at {a.bin}: build it (drop --no-build) or set CARGO_TARGET_DIR")
        return 1
    if not only <= {"w1", "w2", "w3"}:
        log(f"FAILED: --only takes w1, w2, w3, not {a.only}")
        return 1
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    a.results = a.results or os.path.join(target, "e2e", "results.md")
    a.results_dir = os.path.dirname(os.path.abspath(a.results))
    os.makedirs(a.results_dir, exist_ok=True)
    work = a.work or tempfile.mkdtemp(prefix="sluice-e2e-")
    os.makedirs(work, exist_ok=True)
    info = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(), "load_before": f"{os.getloadavg()[0]:.1f}"}
    try:
        info["commit"] = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                        text=True).stdout.strip() or "?"
        for d in ("conf", "out", "enrich"):
            os.makedirs(os.path.join(work, d), exist_ok=True)
        mmdb = os.path.join(work, "enrich", "geoip-example.mmdb")
        subprocess.run([a.bin, "build-mmdb", os.path.join(ROOT, "enrichment-data", "geoip-example.csv"), "-o", mmdb],
                       check=True, stdout=subprocess.DEVNULL)
        enrich = {"mmdb": mmdb, "ioc": [os.path.join(ROOT, "enrichment-data", f"ioc-example.{e}")
                                        for e in ("csv", "stix.json", "txt")]}
        rows, w3, soak_row = [], None, None
        w1 = generate(a, work, "w1", W1_MIX)
        info["generator"] = w1["generator"]
        info["w1"] = f"{w1['lines']:,} lines, {w1['bytes'] / 1e6:.0f} MB"
        info["w2"] = "-"
        w1_rate = None
        if "w1" in only or ("w3" in only and not a.w3_rate):
            r = file_run(a, a.bin, work, "W1 run", w1, enrich)
            rows.append(r)
            w1_rate = r["rate"]
            hits = metric_sum(r["metrics"], "sluice_enrich_hits_total")
            lookups = metric_sum(r["metrics"], "sluice_enrich_lookups_total")
            log(f"  enrichment: {hits:.0f} hits of {lookups:.0f} lookups")
        if "w1" in only:
            rows.append(normalize_run(a, a.bin, work, "W1 normalize", w1, os.path.join(work, "conf", "w1-run.yaml")))
        if "w2" in only:
            w2 = generate(a, work, "w2", W2_MIX)
            info["w2"] = f"{w2['lines']:,} lines, {w2['bytes'] / 1e6:.0f} MB"
            rows.append(file_run(a, a.bin, work, "W2 run", w2, None))
            rows.append(normalize_run(a, a.bin, work, "W2 normalize", w2, os.path.join(work, "conf", "w2-run.yaml")))
            os.unlink(w2["path"])
        if "w3" in only:
            w3 = latency_run(a, a.bin, work, w1, enrich, a.w3_rate or w1_rate / 2)
        if a.soak:
            soak_row = soak(a, a.bin, work, w1, enrich)
        info["load_after"] = f"{os.getloadavg()[0]:.1f}"
        text = table(rows, w3, soak_row, info)
        with open(a.results, "w") as f:
            f.write(text)
        print(text)
        log(f"written to {a.results}")
    except Failure as e:
        log(f"FAILED: {e}")
        return 1
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
