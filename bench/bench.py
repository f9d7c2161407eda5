#!/usr/bin/env python3
"""pogo's benchmark: pogo and its peers, side by side, on one WSGI workload.

Run it through bench/run, which sets up bench/.venv (the peers), wrk and
bin/pogo first. The method is shared/BENCH.md's:

- per-core table: every server one process pinned to CPU 0 (taskset -c 0),
  wrk -t1 pinned to CPU 1;
- two-core table: the servers with 2 worker processes, unpinned, wrk -t2
  unpinned (servers without worker processes run one process, and say so);
- HTTP/3 rows (tools/h3load, quic-go's client, h2load's output) for pogo and
  Hypercorn;
- HTTP/2 rows (h2c with prior knowledge, loaded with h2load) for the servers
  that speak it;
- each point: start the server, wait until it answers the route correctly,
  warm up, then --runs runs of --duration seconds; the median run by req/s is
  reported (req/s counts 2xx only), errors are the sum over all measured runs
  (never hidden); peak RSS of the server's whole process tree, sampled every
  0.5 s; stop the server;
- the "mixed" and "sse" rows put a second load on the same server: the row's
  load is measured alone first, then with a second wrk at once (mixed) or
  with event streams held open by bench/sse_client.py (sse), and its p99 is
  compared with the p99 alone.

Writes results.md, results.json and results.png into --out.
"""

import argparse
import datetime
import http.client
import json
import math
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
APPS = os.path.join(BENCH, "apps")
VENV = os.path.join(BENCH, ".venv")
VBIN = os.path.join(VENV, "bin")
STATUS = os.path.join(VENV, "bench-status")
POGO = os.path.join(ROOT, "bin", "pogo")
HOST = "127.0.0.1"
BENCH_OUT_TMP = os.path.join(tempfile.gettempdir(), "pogo-bench-nginx")  # nginx's config and temp files
BASE_PORT = 18700
THREADS = 8  # the Python thread count the threaded peers get (pogo runs with its own defaults)
WRK_TIMEOUT = "2s"  # wrk's default, stated: a response slower than this is a timeout error

PER_CORE = "per-core"
TWO_CORE = "two-core"
TABLES = (PER_CORE, TWO_CORE)
TABLE_TITLES = {
    PER_CORE: "Per core: each server one process pinned to CPU 0, wrk -t1 pinned to CPU 1",
    TWO_CORE: "Two cores: servers with 2 worker processes, unpinned; wrk -t2 unpinned",
}


# ---------------------------------------------------------------- workloads

sys.path.insert(0, APPS)
from workload import CPU_BODY  # noqa: E402  (the answer /cpu must give)

sys.path.pop(0)

# app key -> (module:callable, the pip package it needs or None)
APPS_SPEC = {
    "workload": ("workload:app", None),
    "flask": ("flask_app:app", "Flask"),
    "django": ("django_app.wsgi:application", "Django"),
    "mixed": ("mixed_app:app", "Flask"),  # /io10 to workload.app, the rest to flask_app.app
}

PLAIN, MIXED, SSE = "plain", "mixed", "sse"  # a row's kind: one load; two loads at once; load plus open streams
SSE_CLIENT = os.path.join(BENCH, "sse_client.py")
STREAM_RAMP = 10  # seconds at most for the streams to open before the load starts
STREAM_DRAIN_LIMIT = 5  # seconds: under the streams a drain probe may queue behind them for ever
RATIO_TARGET = 2.0  # the mixed and sse rows' aim: p99 under the second load <= 2x the p99 alone


class Workload:
    def __init__(
        self, name, app, path, what, method="GET", body=0, conns=64, expect_len=None, h2_streams=0, expect_body=None,
        kind=PLAIN, side=None, streams=0, stream_path=None, tls=False, h3=False,
    ):  # fmt: skip
        self.name, self.app, self.path, self.what = name, app, path, what
        self.method, self.body, self.conns, self.expect_len = method, body, conns, expect_len
        self.expect_body = expect_body  # the exact answer, when it is known
        # kind MIXED: a second wrk (the Workload side, same server) runs at
        # once; kind SSE: streams event streams of stream_path are held open
        # (bench/sse_client.py) during the load. Both also measure the load
        # alone first, on the same server, for the p99 ratio.
        self.kind, self.side, self.streams, self.stream_path = kind, side, streams, stream_path
        # h2_streams > 0: HTTP/2 cleartext (h2c, prior knowledge), loaded by
        # h2load with that many concurrent streams per connection.
        self.h2_streams = h2_streams
        # tls: HTTP/2 over TLS (ALPN h2), every server with the one
        # certificate bench makes (ECDSA P-256, see tls_files).
        self.tls = tls
        # h3: HTTP/3 over QUIC (with tls and h2_streams), loaded by
        # tools/h3load (h2load's figures and log, on quic-go's client).
        self.h3 = h3

    @property
    def h2(self):
        return self.h2_streams > 0

    @property
    def concurrency(self):
        """Requests the load generator keeps in flight."""
        return self.conns * max(1, self.h2_streams)

    @property
    def module(self):
        return APPS_SPEC[self.app][0]

    def label(self):
        if self.kind == MIXED:
            return "%s (%s %s %d conns + %s %s %d conns, at once)" % (
                self.name, self.side.method, self.side.path, self.side.conns, self.method, self.path, self.conns,
            )  # fmt: skip
        if self.kind == SSE:
            return "%s (%d streams of GET %s + %s %s %d conns)" % (
                self.name, self.streams, self.stream_path, self.method, self.path, self.conns,
            )  # fmt: skip
        if self.h2:
            return "%s (%s %s %s, %d conns × %d streams)" % (
                self.name, "h3" if self.h3 else "h2 TLS" if self.tls else "h2c", self.method, self.path, self.conns,
                self.h2_streams,
            )  # fmt: skip
        return "%s (%s %s%s, %d conns)" % (
            self.name,
            self.method,
            self.path,
            " %s" % human_bytes(self.body) if self.body else "",
            self.conns,
        )

    def conns_label(self):
        if self.kind == MIXED:
            return "%d+%d conns" % (self.side.conns, self.conns)
        if self.kind == SSE:
            return "%d conns + %d streams" % (self.conns, self.streams)
        return "%d conns" % self.conns


MIXED_IO10 = Workload("mixed-io10", "mixed", "/io10", "time.sleep(10 ms), 10 B", conns=256, expect_len=10)

WORKLOADS = [
    Workload("hello", "workload", "/", "Hello, World!", expect_len=13),
    Workload("b10", "workload", "/b10", "10 B text/plain", expect_len=10),
    Workload("b1k", "workload", "/b1k", "1 KiB text/plain", expect_len=1024),
    Workload("b10k", "workload", "/b10k", "10 KiB text/plain", expect_len=10 * 1024),
    Workload("b100k", "workload", "/b100k", "100 KiB text/plain", expect_len=100 * 1024),
    Workload("echo", "workload", "/echo", "wsgi.input.read() of a 10 KiB POST", "POST", 10 * 1024),
    Workload("echoi", "workload", "/echoi", "100 KiB POST yielded back in 4 KiB reads", "POST", 100 * 1024),
    Workload("io10", "workload", "/io10", "time.sleep(10 ms), 10 B", conns=512, expect_len=10),
    Workload("io100", "workload", "/io100", "time.sleep(100 ms), 10 B", conns=512, expect_len=10),
    Workload("cpu", "workload", "/cpu", "pure-Python loop, ~1 ms, GIL held", expect_body=CPU_BODY),
    Workload("flask-json", "flask", "/json", "Flask jsonify"),
    Workload("flask-page", "flask", "/page", "Flask + Jinja template, 10 rows"),
    Workload("django", "django", "/", "Django view: ORM query on SQLite + template"),
    Workload("mixed", "mixed", "/json", "Flask jsonify while /io10 runs on the same server", kind=MIXED, side=MIXED_IO10),
    Workload(
        "sse", "workload", "/", "Hello, World! while event streams are held open", expect_len=13, kind=SSE,
        streams=500, stream_path="/sse",
    ),  # fmt: skip
    Workload("h2-hello", "workload", "/", "Hello, World! over h2c", conns=16, h2_streams=8, expect_len=13),
    Workload("h2-b10k", "workload", "/b10k", "10 KiB text/plain over h2c", conns=16, h2_streams=8, expect_len=10 * 1024),
    Workload(
        "h2s-hello", "workload", "/", "Hello, World! over TLS, ALPN h2", conns=16, h2_streams=8, expect_len=13, tls=True,
    ),  # fmt: skip
    Workload(
        "h3-hello", "workload", "/", "Hello, World! over HTTP/3 (QUIC)", conns=16, h2_streams=8, expect_len=13, tls=True,
        h3=True,
    ),  # fmt: skip
]
WORKLOAD_BY_NAME = {w.name: w for w in WORKLOADS}
QUICK_WORKLOADS = ["hello", "flask-json", "io10"]


# ---------------------------------------------------------------- servers


class Server:
    """A server definition: how to start it, what it needs, and why these settings."""

    key = ""
    name = ""
    package = None  # the pip requirement name in bench/requirements.txt
    exe = None

    def workers(self, table):
        return 2 if table == TWO_CORE else 1

    h2 = False  # speaks HTTP/2 cleartext (h2c with prior knowledge)
    h3 = False  # speaks HTTP/3 (QUIC) on the UDP port of its TLS one

    def why_not(self, w):
        """None if this server runs workload w, else what its cell says."""
        if w.h3 and not self.h3:
            return "no HTTP/3"
        if w.h2 and not self.h2:
            return "no HTTP/2"
        return None

    def label(self, table):
        return self.name

    def cmd(self, table, w, port):
        raise NotImplementedError

    def settings(self):
        raise NotImplementedError

    def missing(self):
        """None when installed, else why not."""
        failed = os.path.join(STATUS, "%s.failed" % self.package)
        if os.path.exists(failed):
            with open(failed) as f:
                return "not installed: " + f.read().strip()
        if not os.access(self.exe, os.X_OK):
            return "not installed: %s is missing (run bench/setup.sh)" % self.exe
        return None

    def version(self):
        try:
            from importlib import metadata

            return metadata.version(self.package)
        except Exception:
            return "?"


class Pogo(Server):
    key, name, exe = "pogo", "pogo", POGO
    h2 = True  # on the same port: the h2c preface is recognised
    h3 = True  # --http3

    def cmd(self, table, w, port):
        c = [POGO, "-b", "%s:%d" % (HOST, port), "--chdir", APPS, "--venv", VENV]
        if w.tls:
            cert, key = tls_files()
            c += ["--certfile", cert, "--keyfile", key]
        if w.h3:
            c += ["--http3"]
        if self.workers(table) > 1:
            c += ["-w", str(self.workers(table))]
        return c + [w.module]

    # the defaults the settings text names, as `pogo --help` states them
    DEFAULTS = ("--threads", "--queue-size", "--keep-alive", "--backlog", "--worker-connections")

    def settings(self):
        try:
            text = subprocess.run([POGO, "--help"], capture_output=True, text=True, timeout=10).stdout
        except Exception:
            text = ""
        found = []
        for opt in self.DEFAULTS:
            m = re.search(r"^\s+(?:-\w, )?%s\b.*\(default ([^)]*)\)" % re.escape(opt), text, re.M)
            if m:
                found.append("%s %s" % (opt, m.group(1)))
        return (
            "defaults: no tuning flags (this build's --help: %s; no access log); --venv for the bench's packages, "
            "--chdir bench/apps; per core one process (no master), two-core -w 2 (a master and 2 workers on "
            "SO_REUSEPORT sockets)" % ("; ".join(found) or "not readable")
        )

    def missing(self):
        if not os.access(POGO, os.X_OK):
            return "not built: %s is missing (make build failed?)" % POGO
        return None

    def version(self):
        try:
            v = subprocess.run([POGO, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
            return v[len("pogo ") :] if v.startswith("pogo ") else v
        except Exception:
            return "?"


class GunicornSync(Server):
    key, name, package, exe = "gunicorn-sync", "gunicorn sync", "gunicorn", os.path.join(VBIN, "gunicorn")

    def cmd(self, table, w, port):
        return [self.exe, "-w", str(self.workers(table)), "-b", "%s:%d" % (HOST, port), "--chdir", APPS, w.module]

    def settings(self):
        return (
            "sync worker (the default class), -w = the table's process count; no keep-alive by design "
            "(its docs put sync workers behind a buffering proxy), so wrk reconnects per request; backlog 2048, no access log (defaults)"
        )


class GunicornGthread(Server):
    key, name, package, exe = "gunicorn-gthread", "gunicorn gthread", "gunicorn", os.path.join(VBIN, "gunicorn")

    def cmd(self, table, w, port):
        return [
            self.exe, "-k", "gthread", "--threads", str(THREADS), "-w", str(self.workers(table)),
            "-b", "%s:%d" % (HOST, port), "--chdir", APPS, w.module,
        ]  # fmt: skip

    def settings(self):
        return (
            "gthread worker with --threads 8 (its docs' choice for keep-alive clients and I/O-bound apps); "
            "keep-alive 2 s, worker-connections 1000, backlog 2048 (defaults)"
        )


class UWSGI(Server):
    key, name, package, exe = "uwsgi", "uWSGI", "uWSGI", os.path.join(VBIN, "uwsgi")

    def cmd(self, table, w, port):
        c = [
            self.exe, "--http11-socket", "%s:%d" % (HOST, port), "--master", "--processes", str(self.workers(table)),
            "--threads", str(THREADS), "--chdir", APPS, "--virtualenv", VENV, "--module", w.module,
            "--need-app", "--die-on-term", "--disable-logging", "--listen", "1024", "--tcp-nodelay",
        ]  # fmt: skip
        if self.workers(table) > 1:
            c.append("--thunder-lock")
        return c

    def settings(self):
        return (
            "--http11-socket (its own HTTP/1.1 keep-alive parser, no router process), --master, --threads 8, "
            "--listen 1024 (default 100 is below the 512-connection rows), --tcp-nodelay (without it the 4 KiB "
            "writes of /echoi wait on Nagle + delayed ACK: 44 ms a response), --need-app, --die-on-term, "
            "--disable-logging; --thunder-lock with 2 processes (its docs, to serialise accept). A thread serves "
            "one keep-alive connection at a time, so connections beyond 8 wait in the backlog"
        )


class Waitress(Server):
    key, name, package, exe = "waitress", "waitress", "waitress", os.path.join(VBIN, "waitress-serve")

    def workers(self, table):
        return 1

    def label(self, table):
        if table == TWO_CORE:
            return "waitress (1 process: it has no worker processes)"
        return self.name

    def cmd(self, table, w, port):
        return [
            self.exe, "--listen=%s:%d" % (HOST, port), "--threads=%d" % THREADS, "--connection-limit=1000",
            "--backlog=1024", w.module,
        ]  # fmt: skip

    def settings(self):
        return (
            "--threads 8 (its docs: raise from the default 4 for blocking apps), --connection-limit 1000 "
            "(default 100 would stall the 512-connection rows), --backlog 1024; one process (no worker model)"
        )


class Cheroot(Server):
    key, name, package, exe = "cheroot", "cheroot", "cheroot", os.path.join(VBIN, "cheroot")

    def workers(self, table):
        return 1

    def label(self, table):
        if table == TWO_CORE:
            return "cheroot (1 process: it has no worker processes)"
        return self.name

    def cmd(self, table, w, port):
        # --chdir must come before the app: cheroot's CLI imports it while parsing.
        return [
            self.exe, "--bind", "%s:%d" % (HOST, port), "--chdir", APPS, "--threads", str(THREADS),
            "--max-threads", str(THREADS), "--request-queue-size", "1024", w.module,
        ]  # fmt: skip

    def settings(self):
        return (
            "its CLI with --threads 8 --max-threads 8 (a fixed pool, like the others), --request-queue-size 1024 "
            "(the listen backlog; default 5); one process (no worker model)"
        )


class Granian(Server):
    key, name, package, exe = "granian", "Granian", "granian", os.path.join(VBIN, "granian")
    h2 = True  # --http auto (its default) takes h2c with prior knowledge

    def cmd(self, table, w, port):
        return [
            self.exe, "--interface", "wsgi", "--host", HOST, "--port", str(port), "--workers", str(self.workers(table)),
            "--working-dir", APPS,
        ] + (["--ssl-certificate", tls_files()[0], "--ssl-keyfile", tls_files()[1]] if w.tls else []) + [w.module]  # fmt: skip

    def settings(self):
        return (
            "--interface wsgi, --workers = the table's process count; its docs' defaults for the rest: "
            "blocking threads = backpressure/2 = 512 per worker (spawned on demand; they are the WSGI threads), "
            "1 runtime thread, backlog 1024, access log off, --http auto (HTTP/1.1 and h2c on one port)"
        )


class Hypercorn(Server):
    key, name, package, exe = "hypercorn", "Hypercorn", "hypercorn", os.path.join(VBIN, "hypercorn")
    h2 = True  # h2c with prior knowledge on its TCP port
    h3 = True  # --quic-bind, with aioquic

    def cmd(self, table, w, port):
        c = [self.exe, "--bind", "%s:%d" % (HOST, port), "--workers", str(self.workers(table))]
        if w.tls:
            c += ["--certfile", tls_files()[0], "--keyfile", tls_files()[1]]
        if w.h3:
            c += ["--quic-bind", "%s:%d" % (HOST, port)]
        return c + ["--worker-class", "asyncio", "--log-level", "warning", "wsgi:" + w.module]

    def settings(self):
        return (
            "its WSGI mode (`wsgi:MODULE:APP`: a thread runs each call), --workers = the table's process count, "
            "asyncio worker class, --quic-bind on the TLS port for the h3 rows (aioquic); its defaults for the rest"
        )


class Nginx(Server):
    """The practical ceiling for one core speaking HTTP/1.1 here: nginx
    answering the same static bodies from its own config (no Python)."""

    key, name, package, exe = "nginx", "nginx (static, reference)", None, "/usr/sbin/nginx"
    h2 = True  # `listen ... http2`: h2c with prior knowledge, for the h2 rows
    # path -> body, as nginx config strings (`return 200 "..."`)
    STATIC = {"/": "Hello, World!", "/b10": "x" * 9 + "\\n", "/b1k": "x" * 1023 + "\\n"}
    # path -> size: too long for a config string, served from a file
    FILES = {"/b10k": 10 * 1024}

    def why_not(self, w):
        if w.kind != PLAIN:
            return "n/a"
        if w.app != "workload":  # "/" of the django row is not hello's "/"
            return "n/a"
        if (w.path not in self.STATIC and w.path not in self.FILES) or w.method != "GET":
            return "n/a"
        return None

    def cmd(self, table, w, port):
        conf = os.path.join(BENCH_OUT_TMP, "nginx-%d.conf" % port)
        os.makedirs(BENCH_OUT_TMP, exist_ok=True)
        locs = "".join(
            '    location = %s { default_type text/plain; return 200 "%s"; }\n' % (path, body)
            for path, body in self.STATIC.items()
        )
        for path, size in self.FILES.items():
            name = os.path.join(BENCH_OUT_TMP, "static" + path)
            os.makedirs(os.path.dirname(name), exist_ok=True)
            with open(name, "w") as f:
                f.write("x" * (size - 1) + "\n")
            locs += "    location = %s { default_type text/plain; alias %s; }\n" % (path, name)
        with open(conf, "w") as f:
            f.write(
                "daemon off;\nmaster_process %s;\nworker_processes %d;\npid %s.pid;\nerror_log stderr warn;\n"
                "events { worker_connections 4096; }\n"
                "http {\n  access_log off;\n  keepalive_requests 1000000;\n  client_body_temp_path %s;\n"
                "  server {\n    listen %s:%d backlog=1024%s;\n%s%s  }\n}\n"
                % (
                    "on" if self.workers(table) > 1 else "off", self.workers(table), conf, BENCH_OUT_TMP, HOST, port,
                    # (`listen ... ssl http2`, not `http2 on`: Debian's nginx 1.22 predates it)
                    " ssl http2" if w.tls else " http2" if w.h2 else "",
                    "    ssl_certificate %s;\n    ssl_certificate_key %s;\n" % tls_files() if w.tls else "",
                    locs,
                )
            )
        return [self.exe, "-e", "stderr", "-p", BENCH_OUT_TMP, "-c", conf]

    def settings(self):
        return (
            "not a WSGI server: `return 200` of the same static bodies from its config (10 KiB: a file), worker_processes = the "
            "table's process count, keepalive_requests 1000000, access log off, `listen ... http2` for the h2 rows "
            "(`listen ... ssl http2` for h2s-hello); the ceiling issue 4 measures pogo against"
        )

    def missing(self):
        if not os.access(self.exe, os.X_OK):
            return "not installed: %s is missing (bench/setup.sh installs it with apt-get)" % self.exe
        return None

    def version(self):
        try:
            r = subprocess.run([self.exe, "-v"], capture_output=True, text=True, timeout=10)
            return (r.stderr or r.stdout).strip().split("/")[-1]
        except Exception:
            return "?"


SERVERS = [Pogo(), GunicornSync(), GunicornGthread(), UWSGI(), Waitress(), Cheroot(), Granian(), Hypercorn(), Nginx()]
SERVER_BY_KEY = {s.key: s for s in SERVERS}
SERVER_ALIASES = {"gunicorn": ["gunicorn-sync", "gunicorn-gthread"]}


# ---------------------------------------------------------------- helpers


def human_bytes(n):
    if n >= 1024 and n % 1024 == 0:
        return "%d KiB" % (n // 1024)
    return "%d B" % n


def fmt_rps(x):
    if x is None:
        return "—"
    if x >= 100000:
        return "%.0fk" % (x / 1000)
    if x >= 10000:
        return "%.1fk" % (x / 1000)
    if x >= 1000:
        return "%.2fk" % (x / 1000)
    return "%.0f" % x


def fmt_ms(ms):
    if ms is None:
        return "—"
    if ms >= 1000:
        return "%.2f s" % (ms / 1000)
    if ms >= 10:
        return "%.0f ms" % ms
    if ms >= 1:
        return "%.1f ms" % ms
    return "%.2f ms" % ms


def fmt_mib(kib):
    if not kib:
        return "—"
    return "%.0f MiB" % (kib / 1024)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def port_free(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((HOST, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def port_answers(port):
    try:
        socket.create_connection((HOST, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def process_tree(root):
    """root and all its descendants (pids)."""
    parents = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(parents.get(pid, []))
    return out


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


class RSSSampler(threading.Thread):
    """Peak of the summed VmRSS of a process tree, sampled every 0.5 s."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self._halt = pid, 0, threading.Event()

    def sample(self):
        total = sum(rss_kib(p) for p in process_tree(self.pid))
        self.peak = max(self.peak, total)

    def run(self):
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(0.5)

    def stop(self):
        self._halt.set()
        self.join()
        return self.peak


# ---------------------------------------------------------------- wrk

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def parse_wrk(text):
    r = {"rps": None, "requests": 0, "avg_ms": None, "p50_ms": None, "p75_ms": None, "p90_ms": None, "p99_ms": None}
    m = re.search(r"^\s+Latency\s+([\d.]+)(us|ms|s|m|h)\s", text, re.M)
    if m:
        r["avg_ms"] = float(m.group(1)) * UNITS_MS[m.group(2)]
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        r["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+),", text)
    if m:
        r["requests"] = int(m.group(1))
    for pct, val, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M):
        r["p%s_ms" % pct] = float(val) * UNITS_MS[unit]
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    se = [int(x) for x in m.groups()] if m else [0, 0, 0, 0]
    r["connect_errors"], r["read_errors"], r["write_errors"], r["timeouts"] = se
    # wrk's "Non-2xx or 3xx responses" counts the responses with a status
    # of 400 or more (its own test: status > 399); a 3xx is a completed
    # request to wrk, which sees statuses only through a Lua response()
    # hook, and that costs wrk ~13% of its rate (nginx hello, one core).
    # Served = completed minus those: req/s counts 2xx (the apps send no
    # 3xx, and the checked request before the load wants exactly 200).
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    r["non2xx"] = int(m.group(1)) if m else 0
    r["errors"] = r["non2xx"] + sum(se)
    r["responses"], r["rps_responses"] = r["requests"], r["rps"]
    r["requests"] = max(0, r["responses"] - r["non2xx"])
    if r["rps"] is not None:
        r["rps"] = r["rps"] * r["requests"] / r["responses"] if r["responses"] else 0.0
    return r


def wrk_cmd(table, w, url, duration, script):
    c = []
    if table == PER_CORE:
        c += ["taskset", "-c", "1", "wrk", "-t1"]
    else:
        c += ["wrk", "-t2"]
    c += ["-c%d" % w.conns, "-d%ss" % fmt_num(duration), "--latency"]
    if script:
        c += ["-s", script]
    c.append(url)
    return c


def fmt_num(x):
    return ("%g" % x) if isinstance(x, float) else str(x)


def post_script(out, size):
    path = os.path.join(out, "wrk", "post-%d.lua" % size)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(
                "-- POST a body of %d bytes on every request\n"
                'wrk.method = "POST"\n'
                'wrk.body = string.rep("x", %d)\n'
                'wrk.headers["Content-Type"] = "application/octet-stream"\n' % (size, size)
            )
    return path


# ---------------------------------------------------------------- h2load


H3LOAD = os.path.join(VBIN, "h3load")


def h2load(w):
    """h2load, or for the h3 rows tools/h3load, which takes the same flags."""
    return H3LOAD if w.h3 else "h2load"


def h2load_cmd(table, w, url, duration, log_file):
    c = ["taskset", "-c", "1", h2load(w), "-t1"] if table == PER_CORE else [h2load(w), "-t2"]
    c += ["-c%d" % w.conns, "-m%d" % w.h2_streams, "-D", fmt_num(duration)]
    if log_file:
        c += ["--log-file", log_file]
    return c + [url]


def parse_h2load(text, log_file):
    """h2load's summary, with the latency percentiles computed from its
    per-request log (h2load prints none): the third column is the
    microseconds from request to the end of its response."""
    r = {"rps": None, "requests": 0, "avg_ms": None, "p50_ms": None, "p75_ms": None, "p90_ms": None, "p99_ms": None}
    m = re.search(r"finished in ([\d.]+)(us|ms|s|m|h), ([\d.]+) req/s", text)
    secs = float(m.group(1)) * UNITS_MS[m.group(2)] / 1000 if m else 0
    m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", text)
    total = done = ok = failed = errored = timeouts = 0
    if m:
        total, done, ok, failed, errored, timeouts = (int(x) for x in m.groups())
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    n2xx, n3xx, n4xx, n5xx = (int(x) for x in m.groups()) if m else (0, 0, 0, 0)
    # h2load's "failed" already holds the 4xx/5xx answers (and the stream
    # errors and timeouts); a 3xx is a "succeeded" request to h2load, an
    # error here. Served = 2xx: req/s counts those only. The status counts
    # also take in responses outside the measured duration (more 2xx than
    # requests done, on a slow run), so they only split "succeeded".
    r["requests"] = round(ok * n2xx / (n2xx + n3xx)) if n2xx + n3xx else 0
    r["responses"] = done
    if secs and m:
        r["rps"] = r["requests"] / secs
        r["rps_responses"] = done / secs
    r["non2xx"], r["timeouts"] = n3xx + n4xx + n5xx, timeouts
    r["stream_errors"] = max(0, failed - timeouts - n4xx - n5xx)
    r["connect_errors"] = r["read_errors"] = r["write_errors"] = 0
    r["errors"] = failed + n3xx
    durations = []
    if log_file and os.path.exists(log_file):
        with open(log_file) as f:
            for line in f:
                parts = line.split("\t")
                if len(parts) >= 3:
                    durations.append(int(parts[2]))
        os.unlink(log_file)
    if durations:
        durations.sort()
        r["avg_ms"] = sum(durations) / len(durations) / 1000
        for pct in (50, 75, 90, 99):
            r["p%d_ms" % pct] = durations[min(len(durations) - 1, len(durations) * pct // 100)] / 1000
    return r


def tls_files():
    """The certificate and key every server gets for the TLS rows, made once
    per run with openssl: (cert path, key path)."""
    cert, key = os.path.join(BENCH_OUT_TMP, "cert.pem"), os.path.join(BENCH_OUT_TMP, "key.pem")
    if not os.path.exists(key):
        os.makedirs(BENCH_OUT_TMP, exist_ok=True)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "7",
             "-subj", "/CN=" + HOST, "-keyout", key, "-out", cert],
            check=True, capture_output=True,
        )  # fmt: skip
    return cert, key


def scheme(w):
    return "https" if w.tls else "http"


def h2_once(port, w, timeout):
    """One h2 GET of w's path with h2load: (status class counts line, data bytes) or None."""
    try:
        p = subprocess.run(
            [h2load(w), "-n1", "-c1", "-T", str(int(max(1, timeout))), "%s://%s:%d%s" % (scheme(w), HOST, port, w.path)],
            capture_output=True, text=True, timeout=timeout + 5,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None
    if not re.search(r"requests: 1 total, 1 started, 1 done, 1 succeeded", p.stdout):
        return None
    m = re.search(r"status codes: (\d+) 2xx", p.stdout)
    d = re.search(r"\((\d+)\) data", p.stdout)
    return (m and int(m.group(1)) == 1), (int(d.group(1)) if d else -1)


# ---------------------------------------------------------------- either


def load_cmd(table, w, url, duration, script, log_file=None):
    if w.h2:
        return h2load_cmd(table, w, url, duration, log_file)
    return wrk_cmd(table, w, url, duration, script)


def run_load(cmd, duration, w):
    """Runs wrk or h2load; returns the parsed figures and the raw output."""
    log_file = None
    if w.h2:
        log_file = cmd[cmd.index("--log-file") + 1]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    r = parse_h2load(p.stdout, log_file) if w.h2 else parse_wrk(p.stdout)
    r["exit"] = p.returncode
    if p.returncode != 0 or r["rps"] is None:
        r["load_error"] = (p.stderr.strip() or p.stdout.strip())[-300:]
    return r, p.stdout


def run_loads(cmds, duration):
    """Runs several wrk at once (the mixed row); returns [(figures, output)]
    in the order of cmds. Each is time-boxed like run_load."""
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
    out = []
    for c, p in zip(cmds, procs):
        try:
            stdout, stderr = p.communicate(timeout=duration + 60)
        except subprocess.TimeoutExpired:
            p.kill()
            stdout, stderr = p.communicate()
            stderr = "killed: no end after %ss. %s" % (fmt_num(duration + 60), stderr)
        r = parse_wrk(stdout)
        r["exit"] = p.returncode
        if p.returncode != 0 or r["rps"] is None:
            r["load_error"] = (stderr.strip() or stdout.strip())[-300:]
        out.append((r, stdout))
    return out


# ---------------------------------------------------------------- event streams


def check_sse(port, path, timeout=5):
    """One event stream: a 200 text/event-stream head and one "data:" event
    within timeout. Returns None or what went wrong."""
    try:
        sk = socket.create_connection((HOST, port), timeout=timeout)
    except OSError as e:
        return "connect failed: %s" % e
    try:
        sk.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n\r\n" % (path, HOST, port)).encode())
        data = b""
        deadline = time.time() + timeout
        while b"data:" not in data.partition(b"\r\n\r\n")[2]:
            sk.settimeout(max(0.05, deadline - time.time()))
            chunk = sk.recv(65536)
            if not chunk:
                return "closed after %d bytes" % len(data)
            data += chunk
        head = data.partition(b"\r\n\r\n")[0].decode("latin-1")
        if not head.startswith("HTTP/1.1 200") and not head.startswith("HTTP/1.0 200"):
            return "status: %s" % head.split("\r\n")[0]
        if "text/event-stream" not in head.lower():
            return "no Content-Type text/event-stream"
        return None
    except (socket.timeout, TimeoutError):
        return "no event within %d s" % timeout
    except OSError as e:
        return "stream failed: %s" % e
    finally:
        sk.close()


class StreamClient:
    """bench/sse_client.py in a process of its own (per-core: on CPU 1, with
    wrk), its JSON lines collected with the time they came."""

    def __init__(self, table, port, w, max_seconds, env):
        self.cmd = ["taskset", "-c", "1"] if table == PER_CORE else []
        self.cmd += [
            sys.executable, SSE_CLIENT, "--host", HOST, "--port", str(port), "--path", w.stream_path,
            "--streams", str(w.streams), "--max-seconds", fmt_num(max_seconds),
        ]  # fmt: skip
        self.n, self.env = w.streams, env
        self.lines, self.proc, self.reader = [], None, None

    def start(self):
        self.proc = subprocess.Popen(
            self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True, env=self.env,
        )  # fmt: skip
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.lines.append((time.time(), json.loads(line)))
            except ValueError:
                pass

    def last(self):
        return self.lines[-1][1] if self.lines else {}

    def ramp(self, limit=STREAM_RAMP):
        """Wait until every stream receives, or until nothing has changed for
        3 s once every connection is resolved (the server serves no more),
        or limit seconds. Returns the seconds it took."""
        t0 = time.time()
        seen, since = None, t0
        while time.time() - t0 < limit and self.proc.poll() is None:
            time.sleep(0.5)
            d = self.last()
            if not d:
                continue
            if d["receiving"] >= self.n:
                break
            state = (d["answered"], d["receiving"], d["connected"], d["failed"], d["closed"])
            if state != seen:
                seen, since = state, time.time()
            elif d["connected"] + d["failed"] + d["closed"] >= self.n and time.time() - since >= 3:
                break
        return round(time.time() - t0, 2)

    def window(self, t0, t1):
        """The streams during [t0, t1]: the fewest receiving, answered and
        connected over the client's reports in it."""
        ds = [d for t, d in self.lines if t0 <= t <= t1] or ([self.last()] if self.lines else [])
        if not ds:
            return None
        return {
            "total": self.n,
            "receiving": min(d["receiving"] for d in ds),
            "answered": min(d["answered"] for d in ds),
            "connected": min(d["connected"] for d in ds),
            "failed": max(d["failed"] for d in ds),
            "closed": max(d["closed"] for d in ds),
            "status": ds[-1]["status"],
        }

    def stop(self):
        """SIGTERM (it closes its sockets and prints a last line), SIGKILL
        after 5 s. Returns its stderr's tail if it said anything."""
        if self.proc is None:
            return ""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                self.proc.wait(5)
        self.reader.join(5)
        err = self.proc.stderr.read().strip() if self.proc.stderr else ""
        return err[-300:]


# ---------------------------------------------------------------- one point


def check(port, w, timeout=10):
    """One request of the workload: is the answer right? Returns None or why
    not. "request failed: ..." means no response head came back (the server
    may still be loading the app); anything else is a wrong answer."""
    if w.h2:
        got = h2_once(port, w, timeout)
        if got is None:
            return "request failed: no h2c response"
        ok, n = got
        if not ok:
            return "h2c: status not 2xx"
        if w.expect_len is not None and n != w.expect_len:
            return "body length %d, expected %d" % (n, w.expect_len)
        return None
    body = b"x" * w.body if w.body else None
    try:
        c = http.client.HTTPConnection(HOST, port, timeout=timeout)
        headers = {"Content-Type": "application/octet-stream"} if body else {}
        c.request(w.method, w.path, body=body, headers=headers)
        resp = c.getresponse()
    except Exception as e:
        return "request failed: %s" % (e or type(e).__name__)
    data = b""
    try:
        while True:
            chunk = resp.read1(65536)
            if not chunk:
                break
            data += chunk
    except Exception as e:
        want = resp.getheader("Content-Length")
        return "broken response: got %d%s bytes of the body, then %s" % (
            len(data),
            " of " + want if want else "",
            "a timeout after %d s" % timeout if isinstance(e, (socket.timeout, TimeoutError)) else repr(e),
        )
    finally:
        c.close()
    if resp.status != 200:
        return "status %d: %r" % (resp.status, data[:120])
    if body is not None and data != body:
        return "echo mismatch: sent %d bytes, got %d" % (len(body), len(data))
    if w.expect_body is not None and data != w.expect_body:
        return "body %r, expected %r" % (data[:40], w.expect_body)
    if w.expect_len is not None and len(data) != w.expect_len:
        return "body length %d, expected %d" % (len(data), w.expect_len)
    if not data:
        return "empty body"
    return None


def probe(port, w, timeout):
    """A GET on a new connection; True when any response head comes back."""
    if w.h2:
        return h2_once(port, w, timeout) is not None
    path = w.path
    try:
        c = http.client.HTTPConnection(HOST, port, timeout=timeout)
        c.request("GET", path)
        c.getresponse().read()
        c.close()
        return True
    except Exception:
        return False


DRAIN_LIMIT = 120  # seconds


def drain(proc, port, w, limit=DRAIN_LIMIT):
    """After a wrk run, wait until the server has worked through what that run
    left queued (requests of connections wrk has closed: a sync worker still
    runs each of them), so that the next run starts on an idle server. One
    GET on a new connection queues behind them; its answer means done.
    Returns the seconds it took, or None if it did not answer in limit."""
    t0 = time.time()
    while time.time() - t0 < limit and proc.poll() is None:
        if probe(port, w, limit - (time.time() - t0)):
            return round(time.time() - t0, 2)
        time.sleep(0.2)
    return None


def wait_ready(proc, port, w, deadline):
    """Wait until the server answers the route (not just accepts: gunicorn's
    master accepts before its worker has imported the app)."""
    last, failures = "no answer", 0
    while time.time() < deadline:
        if proc.poll() is not None:
            return False, "exited with code %d before answering" % proc.returncode
        if port_answers(port):
            why = check(port, w)
            if why is None:
                return True, None
            last = why
            failures += 1
            # It answers, wrongly (or breaks the response three times in a
            # row): measure anyway and report it.
            if not why.startswith("request failed") or failures >= 3:
                return True, why
        time.sleep(0.1)
    return False, "not ready after 30 s (%s)" % last


def stop_server(proc):
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the rest of its process group, if any is left
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        proc.wait(5)


def tail(path, n=6):
    try:
        with open(path, errors="replace") as f:
            lines = [line.rstrip() for line in f if line.strip()]
        return " | ".join(lines[-n:])
    except OSError:
        return ""


class Runner:
    def __init__(self, args, out):
        self.args, self.out = args, out
        self.port = BASE_PORT
        self.env = dict(os.environ)
        self.env.pop("PYTHONHOME", None)
        self.env["PYTHONPATH"] = APPS
        self.env["VIRTUAL_ENV"] = VENV
        self.env["PATH"] = VBIN + os.pathsep + self.env.get("PATH", "")
        self.env["POGO_BENCH_DJANGO_DB"] = os.path.join(out, "django.sqlite3")
        self.env["PYTHONUNBUFFERED"] = "1"

    def free_port(self):
        for _ in range(100):
            if port_free(self.port):
                return self.port
            time.sleep(0.1)
            if not port_free(self.port):
                self.port += 1
        raise RuntimeError("no free port near %d" % BASE_PORT)

    def measure(self, proc, port, w, cmds, n, logpath, limit=DRAIN_LIMIT, drain_last=False, streams=None):
        """n runs of the load cmds (one wrk, or several at once: the first is
        the row's, the others ride along in r["side"]); between runs, and
        after the last with drain_last, a drain of at most limit seconds.
        With streams (a StreamClient), each run records the streams served
        during it."""
        runs = []
        for i in range(n):
            c0 = cpu_seconds(process_tree(proc.pid))
            t0 = time.time()
            if len(cmds) == 1:
                got = [run_load(cmds[0], self.args.duration, w)]
            else:
                got = run_loads(cmds, self.args.duration)
            t1 = time.time()
            c1 = cpu_seconds(process_tree(proc.pid))
            r = got[0][0]
            if len(got) > 1:
                r["side"] = got[1][0]
            served = sum(g[0]["requests"] for g in got)
            if served:
                r["cpu_us_per_req"] = round((c1 - c0) * 1e6 / served, 1)
            if streams is not None:
                r["streams"] = streams.window(t0, t1)
            if i < n - 1 or drain_last:
                r["drain_s"] = drain(proc, port, w, limit)
            runs.append(r)
            with open(logpath + ".wrk", "a") as f:
                for c, (_, text) in zip(cmds, got):
                    f.write("$ %s\n%s\n" % (shlex.join(c), text))
        return runs

    def point(self, table, server, w):
        a = self.args
        port = self.free_port()
        scmd = server.cmd(table, w, port)
        if table == PER_CORE:
            scmd = ["taskset", "-c", "0"] + scmd
        script = post_script(self.out, w.body) if w.method == "POST" else None
        url = "%s://%s:%d%s" % (scheme(w), HOST, port, w.path)
        h2log = os.path.join(self.out, "h2load-requests.tsv")  # per run; parse_h2load removes it
        wcmd = load_cmd(table, w, url, a.duration, script, h2log)
        warm = load_cmd(table, w, url, a.warmup, script, h2log)
        cmds, warms = [wcmd], [warm]
        res = {
            "table": table, "server": server.key, "label": server.label(table), "workload": w.name, "kind": w.kind,
            "server_cmd": scmd, "wrk_cmd": wcmd, "port": port, "conns": w.concurrency, "runs": [],
        }  # fmt: skip
        if w.kind == MIXED:
            side_url = "http://%s:%d%s" % (HOST, port, w.side.path)
            cmds.append(wrk_cmd(table, w.side, side_url, a.duration, None))
            warms.append(wrk_cmd(table, w.side, side_url, a.warmup, None))
            res["side_cmd"], res["side_conns"] = cmds[1], w.side.concurrency
        streams = None
        if w.kind == SSE:
            # its own time box: the ramp, the runs and their drains, a margin
            box = STREAM_RAMP + a.runs * (a.duration + STREAM_DRAIN_LIMIT + 5) + 60
            streams = StreamClient(table, port, w, box, self.env)
            res["stream_cmd"] = streams.cmd
        logpath = os.path.join(self.out, "logs", "%s-%s-%s.log" % (table, server.key, w.name))
        os.makedirs(os.path.dirname(logpath), exist_ok=True)
        t0 = time.time()
        with open(logpath, "w") as logf:
            logf.write("$ %s\n" % shlex.join(scmd))
            logf.flush()
            proc = subprocess.Popen(
                scmd, cwd=APPS, env=self.env, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
            sampler = RSSSampler(proc.pid)
            sampler.start()
            try:
                ok, why = wait_ready(proc, port, w, time.time() + 30)
                res["startup_s"] = round(time.time() - t0, 2)
                if why:
                    res["check"] = why
                if not ok:
                    res["failed"] = why
                    return res
                more = None
                if w.kind == MIXED:
                    more = check(port, w.side)
                    more = more and "%s: %s" % (w.side.path, more)
                elif w.kind == SSE:
                    more = check_sse(port, w.stream_path)
                    more = more and "%s: %s" % (w.stream_path, more)
                if more:
                    res["check"] = "; ".join(x for x in (res.get("check"), more) if x)
                if len(warms) == 1:
                    warm_r, _ = run_load(warm, a.warmup, w)
                else:
                    warm_r = run_loads(warms, a.warmup)[0][0]
                warm_r["drain_s"] = drain(proc, port, w)
                res["warmup"] = warm_r
                if w.kind != PLAIN:
                    # the row's load alone, on this server, right before: the p99 the ratio is against
                    res["alone"] = self.measure(proc, port, w, [wcmd], a.runs, logpath, drain_last=True)
                if streams is not None:
                    streams.start()
                    res["stream_ramp_s"] = streams.ramp()
                    res["streams_at_start"] = streams.last()
                    res["runs"] = self.measure(proc, port, w, cmds, a.runs, logpath, STREAM_DRAIN_LIMIT, streams=streams)
                else:
                    res["runs"] = self.measure(proc, port, w, cmds, a.runs, logpath)
                if proc.poll() is not None:
                    res["died"] = "exited with code %d during the load" % proc.returncode
            finally:
                try:
                    if streams is not None:
                        err = streams.stop()  # first: the server's stream generators end on their next write
                        res["streams_final"] = streams.last()
                        if err:
                            res["stream_client_error"] = err
                finally:
                    try:
                        stop_server(proc)
                    finally:
                        res["peak_rss_kib"] = sampler.stop()
                        for _ in range(50):  # the port free again before the next server
                            if port_free(port):
                                break
                            time.sleep(0.1)
        if res.get("failed") or res.get("died"):
            res["log_tail"] = tail(logpath)
        return res


ERROR_KINDS = ("non2xx", "connect_errors", "read_errors", "write_errors", "timeouts", "stream_errors")


def median_run(runs):
    runs = [r for r in runs if r.get("rps") is not None]
    return sorted(runs, key=lambda r: r["rps"])[(len(runs) - 1) // 2] if runs else None


def in_flight(r, conns):
    """Little's law: a closed-loop client keeps every connection busy, so
    req/s x mean latency ~ connections. Far fewer means connections waited
    without any answer (e.g. a thread per keep-alive connection, the rest
    stuck in the accept backlog): wrk's latencies never see them, and its
    timeout count only sees them on a run longer than 2 s. Every answer
    keeps its connection busy, a fast 503 too: this counts all responses,
    not only the served ones. Returns {} or in_flight, conns, starved."""
    answered = r.get("rps_responses", r["rps"])
    if answered == 0 and not r.get("load_error"):
        return {"in_flight": 0.0, "conns": conns, "starved": True}  # not one answer in the whole run
    if r.get("avg_ms") is None or not answered:
        return {}
    n = round(answered * r["avg_ms"] / 1000, 1)
    return {"in_flight": n, "conns": conns, "starved": n < 0.5 * conns}


def summarize(res):
    """The median run by req/s; errors summed over the measured runs (the
    mixed row's second wrk and the runs alone included)."""
    runs = [r for r in res["runs"] if r.get("rps") is not None]
    if not runs:
        return None
    med = median_run(runs)
    s = {k: med.get(k) for k in ("rps", "p50_ms", "p99_ms", "cpu_us_per_req")}
    every = list(res["runs"]) + [r["side"] for r in res["runs"] if r.get("side")] + list(res.get("alone") or [])
    s["errors"] = sum(r["errors"] for r in every)
    s["error_kinds"] = {k: sum(r.get(k, 0) for r in every) for k in ERROR_KINDS if sum(r.get(k, 0) for r in every)}
    s["warmup_errors"] = (res.get("warmup") or {}).get("errors", 0)
    s.update(in_flight(med, res["conns"]))
    s["rps_all"] = [r["rps"] for r in runs]
    alone = median_run(res.get("alone") or [])
    if alone:
        s["alone"] = {k: alone.get(k) for k in ("rps", "p50_ms", "p99_ms")}
        s["alone"]["errors"] = sum(r["errors"] for r in res["alone"])
        if alone.get("p99_ms") and s["p99_ms"] and med["requests"]:
            s["ratio"] = round(s["p99_ms"] / alone["p99_ms"], 2)
    side = med.get("side")
    if side:
        s["side"] = {k: side.get(k) for k in ("rps", "p50_ms", "p99_ms")}
        s["side"]["errors"] = sum(r["side"]["errors"] for r in res["runs"] if r.get("side"))
        if side.get("rps") is not None:
            s["side"].update(in_flight(side, res.get("side_conns", 0)))
    if med.get("streams"):
        s["streams"] = med["streams"]
    return s


# ---------------------------------------------------------------- machine


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20, cwd=ROOT).stdout.strip()
    except Exception:
        return ""


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
            mem = "%.1f GiB" % (kib / 1024 / 1024)
    except OSError:
        pass
    commit = sh(["git", "rev-parse", "--short", "HEAD"]) or "?"
    dirty = sh(["git", "status", "--porcelain", "--untracked-files=no"])
    wrkv = sh(["wrk", "-v"]).splitlines()
    h2v = sh(["h2load", "--version"]).split()
    return {
        "nproc": sh(["nproc"]),
        "cpu": model,
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "pogo_commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "wrk": wrkv[0].split(" [")[0] if wrkv else "?",
        "h2load": " ".join(h2v[:2]) if h2v else "h2load",
    }


# ---------------------------------------------------------------- output


def cell(s, res):
    if res is None:
        return "not run"
    if res.get("failed"):
        return "🔴 failed: %s" % md_escape(res["failed"])[:80]
    if s is None:
        return "🔴 no result"
    if res.get("kind") in (MIXED, SSE):
        txt = composite_cell(s, res)
    else:
        txt = "%s · %s · " % (fmt_rps(s["rps"]), fmt_ms(s["p99_ms"]))
    if s["errors"]:
        kinds = ", ".join("%s %d" % (k.replace("_errors", ""), v) for k, v in s["error_kinds"].items())
        txt += "**🔴 %d err** (%s)" % (s["errors"], kinds)
    else:
        txt += "0 err"
    if s.get("starved"):
        txt += " **🔴 only ~%.0f of %d connections answered in time**" % (s["in_flight"], s["conns"])
    if (s.get("side") or {}).get("starved"):
        txt += " **🔴 %s: only ~%.0f of %d connections answered in time**" % (
            WORKLOAD_BY_NAME[res["workload"]].side.path, s["side"]["in_flight"], s["side"]["conns"],
        )  # fmt: skip
    if res.get("check"):
        txt += " **🔴 wrong answer: %s**" % md_escape(res["check"])[:80]
    if res.get("died"):
        txt += " **🔴 %s**" % res["died"]
    return txt


def ratio_text(s, md=True):
    """'21× alone (2.1 ms)': the p99 under the second load over the p99 of
    the same load alone; red over RATIO_TARGET."""
    alone = s.get("alone") or {}
    if s.get("ratio") is None:
        return "p99 alone %s" % fmt_ms(alone.get("p99_ms"))
    r = "%s× alone" % ("%.1f" % s["ratio"] if s["ratio"] < 10 else "%.0f" % s["ratio"])
    if md:
        r = "**🔴 %s**" % r if s["ratio"] > RATIO_TARGET else r
    return "%s (%s)" % (r, fmt_ms(alone.get("p99_ms")))


def streams_text(s, md=True):
    st = s.get("streams")
    if not st:
        return "streams: no report"
    t = "%d/%d streams" % (st["receiving"], st["total"])
    return "**🔴 %s**" % t if md and st["receiving"] < st["total"] else t


def composite_cell(s, res):
    """mixed: `/json req/s · p99 · ratio · /io10 req/s · `; sse: `/ req/s ·
    p99 · ratio · served/total streams · ` (the errors follow)."""
    w = WORKLOAD_BY_NAME[res["workload"]]
    p99 = fmt_ms(s["p99_ms"]) if s["rps"] else "— (none served)"  # no 2xx: a p99 of error answers says nothing
    head = "%s %s · p99 %s · %s · " % (w.path, fmt_rps(s["rps"]), p99, ratio_text(s))
    if res["kind"] == MIXED:
        return head + "%s %s · " % (w.side.path, fmt_rps((s.get("side") or {}).get("rps")))
    return head + streams_text(s) + " · "


def md_escape(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


SERVED_TEXT = (
    "req/s counts 2xx responses only: a 503 or any other error answer is never a served request, nor in the "
    "CPU per request (wrk cannot tell a 3xx from a 2xx without a Lua response hook that costs it ~13% of its "
    "rate; the apps send no 3xx and the checked request wants 200). The latencies are the load generator's, "
    "over every response, a fast 503 included: a cell with errors has a p99 that flatters it. "
)


COMPOSITE_TEXT = (
    "Rows with two loads at once, on one server process (the issue's thread-model rows). The row's own load is "
    "first measured alone on that server (the same runs and duration), then with the second load; the cell gives "
    "the second measurement and compares its p99 with the first. **mixed**: `mixed_app:app` serves `/io10` "
    "(workload.app: time.sleep 10 ms) and `/json` (the Flask app); two wrk run at once, 256 connections on /io10 "
    "and 64 on /json (per core both pinned to CPU 1, two cores unpinned); cell: `/json req/s · p99 · N× alone "
    "(p99 alone) · /io10 req/s · errors` (errors: both wrk and the runs alone). **sse**: bench/sse_client.py "
    "(asyncio, raw sockets; per core on CPU 1 with wrk) opens 500 `GET /sse` streams (an event a second, "
    "time.sleep in between, for as long as the client stays), waits up to %d s for them to be served, then wrk "
    "loads `GET /` with 64 connections; cell: `/ req/s · p99 · N× alone (p99 alone) · served/500 streams · "
    "errors`, where a stream is served when it received an event in the last 2 s, and the figure is the fewest "
    "over the run (reported every 0.5 s). A ratio above %g× (the issue's target) and fewer streams than opened "
    "are in red. A server that keeps a thread per stream and has fewer threads leaves the other streams, and "
    "then the hello requests, waiting: it shows as few streams and few (or no) hello answers; drains under the "
    "streams are cut at %d s. Nothing here waits without a limit."
    % (STREAM_RAMP, RATIO_TARGET, STREAM_DRAIN_LIMIT)
)


def write_markdown(path, meta, tables, results, servers, workloads, missing, png_ok, skipped):
    m = meta["machine"]
    a = meta["args"]
    L = []
    L.append("# pogo benchmark — %s" % meta["date"])
    L.append("")
    L.append(
        "Machine: %s CPUs (`nproc`), %s, %s RAM, Linux %s; Python %s; pogo commit %s; %s."
        % (m["nproc"], m["cpu"], m["memory"], m["kernel"], m["python"], m["pogo_commit"], m["wrk"] + (", " + m["h2load"] if m.get("h2load") else ""))
    )
    L.append("")
    L.append(
        "Method (shared/BENCH.md): %s; each point: start the server, one checked request, %ss of load (wrk or h2load) as warm-up, "
        "then %d run(s) of %ss, each after the server has drained what the previous wrk left queued; the median "
        "run by req/s is shown. Cells: **req/s · p99 · errors**; errors are "
        "the sum over all measured runs of the non-2xx responses (wrk: status 400 or more, what its \"Non-2xx or 3xx\" "
        "line counts; h2load: 3xx, 4xx, 5xx) and socket errors (connect, read, write, timeout; wrk's timeout is %s), "
        "shown in red (🔴), never dropped. %s"
        "\"Only ~a of b connections answered in time\": req/s × mean latency (Little's law) is under half the "
        "connection count, so most connections waited longer than wrk's timeout or got no answer at all, which "
        "wrk's latencies do not show (e.g. a thread held by each keep-alive connection, the rest in the backlog). "
        "Wall time of this run: %s."
        % (
            ("quick subset (`--quick`)" if a["quick"] else "full run")
            + (" — **interrupted %s**" % meta["interrupted"] if meta.get("interrupted") else ""),
            fmt_num(a["warmup"]),
            a["runs"],
            fmt_num(a["duration"]),
            WRK_TIMEOUT,
            SERVED_TEXT if meta.get("served") == "2xx" else "req/s counts every response (a run from before the bench counted 2xx only). ",
            meta.get("wall", "?"),
        )
    )
    L.append("")
    if meta.get("parts"):
        L.append(
            "Assembled with `bench.py --combine` from %d runs on this machine; every row comes from one run:"
            % len(meta["parts"])
        )
        L.append("")
        for i, part in enumerate(meta["parts"], 1):
            L.append(
                "- run %d (`%s`, %s, pogo %s%s): %s."
                % (
                    i,
                    part["dir"],
                    part["date"],
                    part["pogo_commit"],
                    ", " + part["interrupted"] if part["interrupted"] else "",
                    ", ".join(part["rows"]) or "no rows kept",
                )
            )
        L.append("")
    if png_ok:
        L.append("![req/s per workload and server](results.png)")
        L.append("")
    if any(w.h2 for w in workloads):
        L.append(
            "HTTP/2 rows (`h2-…`): h2c with prior knowledge on the server's one port (`h2s-…`: TLS with ALPN h2, "
            "every server with the same ECDSA P-256 certificate), loaded by %s with the "
            "connections × concurrent streams the row names; h2load prints no percentiles, so p50/p99 come from its "
            "per-request log (`--log-file`); errors are failed requests plus 4xx/5xx. Servers without HTTP/2 say so."
            % m.get("h2load", "h2load")
        )
        L.append("")
    composite = [w for w in workloads if w.kind != PLAIN]
    if composite:
        L.append(COMPOSITE_TEXT)
        L.append("")
    for table in tables:
        cols = [s for s in servers]
        L.append("## %s" % TABLE_TITLES[table])
        L.append("")
        L.append("| workload | " + " | ".join(s.label(table) for s in cols) + " |")
        L.append("|---|" + "---|" * len(cols))
        for w in workloads:
            row = [w.label()]
            for s in cols:
                res = results.get((table, s.key, w.name))
                if s.key in missing:
                    row.append("not installed")
                elif s.why_not(w):
                    row.append(s.why_not(w))
                else:
                    row.append(cell(res and res.get("summary"), res))
            L.append("| " + " | ".join(row) + " |")
        rss = []
        for s in cols:
            vals = [
                r.get("peak_rss_kib", 0) for (t, k, _), r in results.items() if t == table and k == s.key and r
            ]
            rss.append(fmt_mib(max(vals)) if vals else "—")
        L.append("| **peak RSS** (process tree, max over the rows) | " + " | ".join(rss) + " |")
        L.append("")
        # p50 and CPU per request, compactly
        L.append("<details><summary>p50 latency and server CPU per request (µs, whole process tree)</summary>")
        L.append("")
        L.append("| workload | " + " | ".join(s.label(table) for s in cols) + " |")
        L.append("|---|" + "---|" * len(cols))
        for w in workloads:
            row = [w.name]
            for s in cols:
                res = results.get((table, s.key, w.name))
                sm = res and res.get("summary")
                if not sm:
                    row.append("—")
                    continue
                cpu = sm.get("cpu_us_per_req")
                row.append("p50 %s · %s" % (fmt_ms(sm["p50_ms"]), "%.0f µs CPU" % cpu if cpu is not None else "—"))
            L.append("| " + " | ".join(row) + " |")
        L.append("")
        L.append("</details>")
        L.append("")
        warm = [
            "%s / %s: %d" % (r["label"], w, r["summary"]["warmup_errors"])
            for (t, k, w), r in results.items()
            if t == table and r and r.get("summary") and r["summary"]["warmup_errors"]
        ]
        if warm:
            L.append("Errors during warm-up (not in the cells): " + "; ".join(warm) + ".")
            L.append("")
        failed = [r for (t, _, _), r in results.items() if t == table and r and (r.get("failed") or r.get("died"))]
        for r in failed:
            L.append(
                "- 🔴 %s / %s: %s. Log: `%s`"
                % (r["label"], r["workload"], r.get("failed") or r.get("died"), md_escape(r.get("log_tail", ""))[:400])
            )
        if failed:
            L.append("")

    L.append("## Servers, versions and settings")
    L.append("")
    L.append(
        "Each server runs the same modules from bench/apps (`workload:app`, `flask_app:app`, "
        "`django_app.wsgi:application`, and for the mixed row `mixed_app:app`, which hands /io10 to the first "
        "and the rest to the second) with the settings its docs recommend for the case:"
    )
    L.append("")
    for s in servers:
        ver = meta["versions"].get(s.key, "?")
        if s.key in missing:
            L.append("- **%s**: %s" % (s.name, md_escape(missing[s.key])))
        else:
            L.append("- **%s** %s: %s." % (s.name, ver, meta.get("settings", {}).get(s.key) or s.settings()))
    for pkg in ("Flask", "Django"):
        L.append("- %s %s" % (pkg, meta["versions"].get(pkg, "?")))
    L.append("")
    if missing:
        L.append("Not installed (reported, not dropped):")
        L.append("")
        for k, why in missing.items():
            L.append("- %s: %s" % (SERVER_BY_KEY[k].name if k in SERVER_BY_KEY else k, md_escape(why)))
        L.append("")

    L.append("## Exact command lines")
    L.append("")
    L.append(
        "Servers run with the working directory bench/apps and PYTHONPATH=bench/apps, VIRTUAL_ENV=bench/.venv, "
        "POGO_BENCH_DJANGO_DB=<out>/django.sqlite3 in the environment. The port changes only if the previous one was busy."
    )
    L.append("")
    for table in tables:
        L.append("### %s" % table)
        L.append("")
        L.append("```sh")
        seen = set()
        for s in servers:
            for w in workloads:
                r = results.get((table, s.key, w.name))
                if not r:
                    continue
                line = shlex.join(r["server_cmd"])
                if line not in seen:
                    seen.add(line)
                    L.append("# %s, %s" % (r["label"], w.module))
                    L.append(line)
        L.append("")
        L.append("# wrk or h2load, one line per workload (warm-up: the same for %ss)" % fmt_num(a["warmup"]))
        seenw = set()
        for w in workloads:
            for s in servers:
                r = results.get((table, s.key, w.name))
                if r and w.name not in seenw:
                    seenw.add(w.name)
                    if r.get("side_cmd"):
                        L.append("# %s: these two at once (and the first alone before)" % w.name)
                        L.append(shlex.join(r["side_cmd"]) + " &")
                    if r.get("stream_cmd"):
                        L.append("# %s: the streams, then wrk while they are open (and wrk alone before)" % w.name)
                        L.append(shlex.join([os.path.relpath(x, ROOT) if x == SSE_CLIENT else x for x in r["stream_cmd"]]) + " &")
                    L.append(shlex.join(r["wrk_cmd"]))
        L.append("```")
        L.append("")
    scripts = sorted({w.body for w in workloads if w.method == "POST"})
    if scripts:
        L.append("POST bodies come from wrk Lua scripts (in the output's wrk/ folder), each:")
        L.append("")
        L.append("```lua")
        L.append('wrk.method = "POST"')
        L.append('wrk.body = string.rep("x", N)  -- N = ' + ", ".join(str(n) for n in scripts))
        L.append('wrk.headers["Content-Type"] = "application/octet-stream"')
        L.append("```")
        L.append("")
    if skipped:
        L.append("Workloads not run: " + "; ".join("%s (%s)" % kv for kv in skipped.items()) + ".")
        L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L))


def write_png(path, meta, tables, results, servers, workloads, missing):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
    except Exception as e:
        log("bench: no chart: matplotlib is not importable (%s)" % e)
        return False
    palette = {
        "pogo": "#1f5fbf", "gunicorn-sync": "#a0a0a0", "gunicorn-gthread": "#6d6d6d", "uwsgi": "#e08a1e",
        "waitress": "#59a14f", "cheroot": "#b07aa1", "granian": "#d4a017", "nginx": "#9c9c9c",
    }  # fmt: skip
    n = len(tables)
    width_in = max(10, 0.3 * len(workloads) * len(servers) + 3)
    fig, axes = plt.subplots(n, 1, figsize=(width_in, 5.6 * n), squeeze=False)
    width = 0.8 / max(1, len(servers))
    for ax, table in zip(axes[:, 0], tables):
        vals = [
            r["summary"]["rps"]
            for (t, _, _), r in results.items()
            if t == table and r and r.get("summary") and r["summary"]["rps"]
        ]
        top = max(vals + [10])
        bottom = 10 ** max(0, math.floor(math.log10(max(1, min(vals + [top]) / 3))))
        for j, s in enumerate(servers):
            color = palette.get(s.key, "#76b7b2")
            for i, w in enumerate(workloads):
                x = i + (j - (len(servers) - 1) / 2) * width
                r = results.get((table, s.key, w.name))
                sm = r and r.get("summary")
                note = dict(rotation=90, ha="center", va="bottom", fontsize=7)
                if s.key in missing or r is None:
                    ax.text(x, bottom * 1.1, "not installed" if s.key in missing else (s.why_not(w) or "n/a"), color="#777", **note)
                    continue
                if not sm or r.get("failed"):
                    ax.text(x, bottom * 1.1, "failed to start", color="red", weight="bold", **note)
                    continue
                rps = max(sm["rps"], bottom)
                what = []
                if sm["errors"]:
                    what.append("%d err" % sm["errors"])
                if r.get("check"):
                    what.append("wrong answer")
                if sm.get("starved"):
                    what.append("%.0f/%d conns" % (sm["in_flight"], sm["conns"]))
                if r.get("died"):
                    what.append("died")
                # the mixed and sse rows, on a second line: the p99 ratio, the
                # streams, the second wrk's connections; red when short of the aim
                extra, short = [], False
                if r.get("kind") in (MIXED, SSE):
                    ratio = sm.get("ratio")
                    if ratio is not None:
                        extra.append("p99 %s×" % ("%.1f" % ratio if ratio < 10 else "%.0f" % ratio))
                        short |= ratio > RATIO_TARGET
                    st = sm.get("streams")
                    if st:
                        extra.append("%d/%d streams" % (st["receiving"], st["total"]))
                        short |= st["receiving"] < st["total"]
                    if (sm.get("side") or {}).get("starved"):
                        side = WORKLOAD_BY_NAME[w.name].side
                        extra.append("%s %.0f/%d conns" % (side.path, sm["side"]["in_flight"], sm["side"]["conns"]))
                        short = True
                bad = bool(what) or short
                ax.bar(
                    x, rps, width, color=color, edgecolor="red" if bad else "white",
                    linewidth=1.8 if bad else 0.4, hatch="///" if bad else None,
                )  # fmt: skip
                label = "  ".join([fmt_rps(sm["rps"])] + ([", ".join(what)] if what else []))
                if extra:
                    label += "\n" + ", ".join(extra)
                if bad:
                    ax.text(x, rps * 1.08, label, color="red", weight="bold", **note)
                else:
                    ax.text(x, rps * 1.08, label, color="#222", **note)
        ax.set_yscale("log")
        ax.set_ylim(bottom, top * (25 if all(w.kind == PLAIN for w in workloads) else 100))  # room for the longer labels
        ax.set_xticks(range(len(workloads)))
        ax.set_xticklabels(
            ["%s%s\n%s" % (w.name, " (bar: %s)" % w.path if w.kind != PLAIN else "", w.conns_label()) for w in workloads],
            fontsize=8,
        )
        ax.set_xlim(-0.5, len(workloads) - 0.5)
        ax.set_ylabel("req/s (log scale)")
        ax.set_title(TABLE_TITLES[table], fontsize=10)
        ax.grid(axis="y", which="major", alpha=0.3)
        handles = [Patch(facecolor=palette.get(s.key, "#76b7b2"), label=s.label(table)) for s in servers]
        handles.append(
            Patch(
                facecolor="white", edgecolor="red", hatch="///", linewidth=1.8,
                label="failures: N err; a/b conns = a of b connections answered within 2 s"
                + ("; p99 N× = N times its p99 alone (red over %g×); a/500 streams served" % RATIO_TARGET if any(w.kind != PLAIN for w in workloads) else ""),
            )
        )  # fmt: skip
        ax.legend(
            handles=handles, fontsize=7, ncol=max(1, min(4, len(handles), int(width_in / 3.6))), loc="upper center",
            bbox_to_anchor=(0.5, -0.11), frameon=False,
        )  # fmt: skip
    m = meta["machine"]
    fig.suptitle(
        "pogo and peers, %s: %s CPUs (%s), Python %s, pogo %s;\n%s warm-up, median of %d x %s s"
        % (
            meta["date"], m["nproc"], m["cpu"], m["python"], m["pogo_commit"].replace(" (with uncommitted changes)", "+dirty"),
            "%ss" % fmt_num(meta["args"]["warmup"]), meta["args"]["runs"], fmt_num(meta["args"]["duration"]),
        ),
        fontsize=10,
    )  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ---------------------------------------------------------------- main


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="per-core only, hello / flask-json / io10, 3 s, 1 run")
    p.add_argument("--out", help="output directory (default bench/out/DATE)")
    p.add_argument("--duration", type=float, help="seconds per run (default 10; quick 3)")
    p.add_argument("--runs", type=int, help="runs per point, median reported (default 3; quick 1)")
    p.add_argument("--warmup", type=float, help="warm-up seconds (default 3; quick 1)")
    p.add_argument("--servers", help="comma-separated: " + ",".join(SERVER_BY_KEY) + " (gunicorn = both)")
    p.add_argument("--workloads", help="comma-separated: " + ",".join(WORKLOAD_BY_NAME))
    p.add_argument("--tables", help="comma-separated: per-core,two-core (default both; quick per-core)")
    p.add_argument("--render", metavar="DIR", help="only rewrite DIR/results.md and results.png from DIR/results.json")
    p.add_argument(
        "--combine",
        nargs="+",
        metavar="DIR",
        help="write --out from the results.json of several runs (e.g. one cut off, then its missing rows): "
        "a later run's point replaces an earlier one's; the output names each run and the rows it gave",
    )
    a = p.parse_args(argv)
    q = a.quick
    a.duration = a.duration if a.duration is not None else (3 if q else 10)
    a.runs = a.runs if a.runs is not None else (1 if q else 3)
    a.warmup = a.warmup if a.warmup is not None else (1 if q else 3)
    for k in ("duration", "warmup"):
        v = getattr(a, k)
        if v == int(v):
            setattr(a, k, int(v))
    if a.duration < 1 or a.runs < 1 or a.warmup < 1:
        p.error("--duration, --runs and --warmup must be at least 1")

    def pick(value, table, aliases, default, what):
        if not value:
            return list(default)
        names = []
        for n in value.split(","):
            n = n.strip()
            if not n:
                continue
            for x in aliases.get(n, [n]):
                if x not in table:
                    p.error("unknown %s %r (choose from %s)" % (what, x, ", ".join(table)))
                if x not in names:
                    names.append(x)
        return names

    a.server_keys = pick(a.servers, SERVER_BY_KEY, SERVER_ALIASES, SERVER_BY_KEY, "server")
    a.workload_names = pick(a.workloads, WORKLOAD_BY_NAME, {}, QUICK_WORKLOADS if q else WORKLOAD_BY_NAME, "workload")
    a.tables = pick(a.tables, {t: t for t in TABLES}, {}, (PER_CORE,) if q else TABLES, "table")
    return a


def _interrupted(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def render(out):
    """Rewrite results.md and results.png from results.json (no measuring)."""
    with open(os.path.join(out, "results.json")) as f:
        data = json.load(f)
    meta = data["meta"]
    args = meta["args"]
    results = {(p["table"], p["server"], p["workload"]): p for p in data["points"]}
    for p in data["points"]:  # the summary is derived: redone, so the cells follow this script
        if p.get("runs"):
            p["summary"] = summarize(p)
    servers = [SERVER_BY_KEY[k] for k in args["server_keys"]]
    skipped = meta.get("skipped_workloads", {})
    workloads = [WORKLOAD_BY_NAME[n] for n in args["workload_names"] if n not in skipped]
    missing = meta.get("missing", {})
    png_ok = write_png(os.path.join(out, "results.png"), meta, args["tables"], results, servers, workloads, missing)
    write_markdown(os.path.join(out, "results.md"), meta, args["tables"], results, servers, workloads, missing, png_ok, skipped)


def combine(out, dirs):
    """Write out/results.json from the runs in dirs, then render it.

    The first run gives the machine and the settings; every run's points
    are kept, a later one's replacing an earlier one's for the same table,
    server and workload. meta["parts"] says which run (date, pogo commit)
    measured which rows, and the output shows it: figures in one row always
    come from one run, as ratios need.
    """
    runs = []
    for d in dirs:
        with open(os.path.join(d, "results.json")) as f:
            runs.append(json.load(f))
    base = runs[0]["meta"]
    for r in runs[1:]:
        m = r["meta"]
        for k in ("duration", "runs", "warmup"):
            if m["args"][k] != base["args"][k]:
                sys.exit("bench: --combine: %s has %s %s, the first run %s" % (k, m["args"][k], base["args"][k]))
        if m["machine"]["nproc"] != base["machine"]["nproc"] or m["machine"]["cpu"] != base["machine"]["cpu"]:
            sys.exit("bench: --combine: the runs are not from one kind of machine")
        if m.get("served") != base.get("served"):
            sys.exit("bench: --combine: one run counts %s as served, another %s" % (m.get("served", "every response"), base.get("served", "every response")))
    points = {}
    for i, r in enumerate(runs):
        for pt in r["points"]:
            pt = dict(pt, part=i)
            points[(pt["table"], pt["server"], pt["workload"])] = pt
    rows = {}
    for t, _, w in points:
        rows.setdefault((t, w), set()).add(points[(t, _, w)]["part"])
    for (t, w), parts in rows.items():
        if len(parts) > 1:
            sys.exit("bench: --combine: the %s row %s mixes runs %s; rerun the whole row" % (t, w, sorted(parts)))
    meta = json.loads(json.dumps(base))
    meta["parts"] = []
    for i, r in enumerate(runs):
        m = r["meta"]
        order = list(WORKLOAD_BY_NAME)
        mine = ["%s %s" % tw for tw in sorted((tw for tw, ps in rows.items() if i in ps), key=lambda tw: (TABLES.index(tw[0]), order.index(tw[1])))]
        meta["parts"].append(
            {
                "dir": os.path.basename(os.path.normpath(dirs[i])),
                "date": m["date"],
                "pogo_commit": m["machine"]["pogo_commit"],
                "pogo_version": m["versions"].get("pogo", "?"),
                "interrupted": m.get("interrupted") or ("" if "wall" in m else "cut off (no end recorded)"),
                "rows": mine,
            }
        )
        for k in ("server_keys", "workload_names", "tables"):
            for v in m["args"][k]:
                if v not in meta["args"][k]:
                    meta["args"][k].append(v)
    meta.pop("interrupted", None)
    meta["wall"] = " + ".join(r["meta"].get("wall", "(cut off)") for r in runs)
    meta["machine"]["pogo_commit"] = " / ".join(dict.fromkeys(p["pogo_commit"] for p in meta["parts"]))
    workloads = {}
    for r in runs:
        workloads.update(r["workloads"])
    os.makedirs(out, exist_ok=True)
    for d in dirs:  # the wrk scripts the commands name
        if os.path.isdir(os.path.join(d, "wrk")):
            shutil.copytree(os.path.join(d, "wrk"), os.path.join(out, "wrk"), dirs_exist_ok=True)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"meta": meta, "workloads": workloads, "points": list(points.values())}, f, indent=1)
    render(out)


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if a.render:
        render(os.path.abspath(a.render))
        return 0
    if a.combine:
        if not a.out:
            sys.exit("bench: --combine needs --out")
        combine(os.path.abspath(a.out), a.combine)
        return 0
    signal.signal(signal.SIGTERM, _interrupted)  # so that the running server is stopped (finally)
    started = time.time()
    now = datetime.datetime.now().astimezone()
    out = os.path.abspath(a.out or os.path.join(BENCH, "out", now.strftime("%Y-%m-%d_%H%M%S")))
    os.makedirs(out, exist_ok=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is not installed (bench/setup.sh installs it)")
    if not shutil.which("taskset"):
        sys.exit("bench: taskset is not installed")

    servers = [SERVER_BY_KEY[k] for k in a.server_keys]
    workloads = [WORKLOAD_BY_NAME[n] for n in a.workload_names]
    missing = {s.key: s.missing() for s in servers if s.missing()}
    for k, why in missing.items():
        log("bench: %s: %s" % (SERVER_BY_KEY[k].name, why))
    # workloads whose framework or load generator is missing are reported, not run
    skipped = {}
    for w in workloads:
        if w.h2 and not shutil.which("h2load"):
            skipped[w.name] = "h2load is not installed (bench/setup.sh installs nghttp2-client)"
        pkg = APPS_SPEC[w.app][1]
        if pkg and os.path.exists(os.path.join(STATUS, "%s.failed" % pkg)):
            with open(os.path.join(STATUS, "%s.failed" % pkg)) as f:
                skipped[w.name] = "%s not installed: %s" % (pkg, f.read().strip())
    meta = {
        "date": now.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": machine(),
        "args": {k: getattr(a, k) for k in ("quick", "duration", "runs", "warmup", "server_keys", "workload_names", "tables")},
        "threads": THREADS,
        "served": "2xx",  # req/s counts 2xx responses only (earlier runs counted every response)
        "wrk_timeout": WRK_TIMEOUT,
        "versions": {s.key: s.version() for s in servers if s.key not in missing},
        # as run: pogo's text names the defaults of the binary measured
        "settings": {s.key: s.settings() for s in servers if s.key not in missing},
        "missing": missing,
        "skipped_workloads": skipped,
    }
    from importlib import metadata

    for pkg in ("Flask", "Django", "matplotlib"):
        try:
            meta["versions"][pkg] = metadata.version(pkg)
        except Exception:
            meta["versions"][pkg] = "not installed"

    runner = Runner(a, out)
    results = {}
    points = [
        (t, s, w)
        for t in a.tables
        for w in workloads
        for s in servers
        if s.key not in missing and w.name not in skipped and not s.why_not(w)
    ]
    log("bench: %d points (%s), output in %s" % (len(points), ", ".join(a.tables), out))
    def save():
        with open(os.path.join(out, "results.json"), "w") as f:
            json.dump(
                {"meta": meta, "workloads": {w.name: w.label() for w in workloads}, "points": list(results.values())},
                f,
                indent=1,
            )

    for i, (table, s, w) in enumerate(points, 1):
        try:
            res = runner.point(table, s, w)
        except KeyboardInterrupt:
            meta["interrupted"] = "after %d of %d points" % (i - 1, len(points))
            log("bench: interrupted; writing the %d points measured" % (i - 1))
            break
        res["summary"] = summarize(res)
        results[(table, s.key, w.name)] = res
        save()
        sm = res["summary"]
        if sm:
            msg = "%s req/s, p99 %s, %d errors" % (fmt_rps(sm["rps"]), fmt_ms(sm["p99_ms"]), sm["errors"])
            if w.kind != PLAIN:
                msg += ", " + ratio_text(sm, md=False)
            if w.kind == MIXED:
                msg += ", %s %s req/s" % (w.side.path, fmt_rps((sm.get("side") or {}).get("rps")))
            if w.kind == SSE:
                msg += ", " + streams_text(sm, md=False)
            if res.get("check"):
                msg += ", WRONG ANSWER: " + res["check"]
        else:
            msg = "FAILED: %s" % (res.get("failed") or res.get("died") or "no result")
        log("[%d/%d] %s %s %s: %s (%.0fs elapsed)" % (i, len(points), table, w.name, s.label(table), msg, time.time() - started))

    wall = time.time() - started
    meta["wall_seconds"] = round(wall, 1)
    meta["wall"] = "%dm%02ds" % (wall // 60, wall % 60)
    save()
    render(out)
    log("bench: done in %s: %s" % (meta["wall"], os.path.join(out, "results.md")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
