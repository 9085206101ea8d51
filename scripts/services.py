"""Start and stop the REAL local services jiangxin needs for dev and tests. Never mocks.

    scripts/services up      ensure both answer; write .data/services.env
    scripts/services down    stop only what `up` started (pid files in .data/run/)
    scripts/services status  state of each; exit 0 if both answer, 1 otherwise
    scripts/services env     print .data/services.env (after `up`)

MongoDB: $MONGODB_URI if it answers a ping, else `mongod` from PATH, else
mongo-java-server (H2 backend; launcher built once with Maven from
tools/mongo-java-server/ into .tools/), else FerretDB v1 (SQLite backend) built
once from tools/ferretdb/ into .tools/bin/ (last: it loses concurrent updates).
Redis: $REDIS_URL if it answers PING, else `redis-server` (apt-installed when
missing and running as root).
Ports: JX_MONGO_PORT (default 27018), JX_REDIS_PORT (default 6390).
JX_DATA_DIR (default .data; relative to the project root) moves pid files, logs,
server data and services.env elsewhere, so tests never touch the real .data.

`scripts/services` (the shell entry point) runs this with the venv's python, or
python3 when there is no venv (`down` after `make clean`): `down` and `env` need
only the standard library, so pymongo and redis-py are imported where a ping is.
"""

from __future__ import annotations

import dataclasses
import enum
import fcntl
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from scripts.processes import alive, wait_gone

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
DEFAULT_MONGO_PORT = "27018"
DEFAULT_REDIS_PORT = "6390"
FERRET_VERSION = "v1.24.2"
FERRET_PKG = "github.com/FerretDB/FerretDB/cmd/ferretdb"
GO_MIN_MINOR = 24  # FerretDB v1.24 needs Go >= 1.24
READY_TIMEOUT_S = 30.0  # for a freshly started server to answer
STOP_TIMEOUT_S = 10.0  # between SIGTERM and SIGKILL
KILL_TIMEOUT_S = 5.0  # for a SIGKILLed process to go
PIDFILE_TIMEOUT_S = 5.0  # for a self-daemonising server to write its pid file
LOCK_TIMEOUT_S = 600.0  # a concurrent `up` may be building a server
LOG_TAIL_LINES = 25

USAGE = """\
usage: scripts/services {up|down|status|env}
  up      start (if needed) MongoDB-compatible server + Redis; write .data/services.env
  down    stop what 'up' started
  status  show state; exit 0 if both answer
  env     print .data/services.env
env: MONGODB_URI, REDIS_URL (used if they answer), JX_MONGO_PORT (27018), JX_REDIS_PORT (6390)
"""


class ServicesError(Exception):
    """A failure: printed as ``services: error: ...``, exit status 1."""


def log(message: str) -> None:
    """One ``services: ...`` line on stderr."""
    print(f"services: {message}", file=sys.stderr, flush=True)


def redact(uri: str) -> str:
    """The URI with its credentials hidden."""
    return re.sub(r"//[^/@]*@", "//***@", uri, count=1)


def parse_port(name: str, value: str) -> int:
    """The TCP port in ``value``, or ServicesError naming the variable."""
    # [0-9], not isdigit(): that also accepts non-ASCII digits.
    if re.fullmatch(r"[0-9]+", value) and 1 <= int(value) <= 65535:
        return int(value)
    raise ServicesError(f"{name}={value} is not a valid TCP port")


# ------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Paths:
    """Where `up` keeps its state (data) and its built servers (tools)."""

    root: Path
    data: Path

    @property
    def run(self) -> Path:
        return self.data / "run"

    @property
    def log(self) -> Path:
        return self.data / "log"

    @property
    def env_file(self) -> Path:
        return self.data / "services.env"

    @property
    def tools(self) -> Path:
        return self.root / ".tools"

    @property
    def ferret_bin(self) -> Path:
        return self.tools / "bin" / "ferretdb"

    @property
    def mjs_dir(self) -> Path:
        return self.root / "tools" / "mongo-java-server"

    @property
    def mjs_jar(self) -> Path:
        # Where tools/mongo-java-server/pom.xml builds it.
        return self.tools / "mongo-java-server" / "mongo-launcher.jar"

    def shown(self, path: Path) -> str:
        """``path`` as messages show it: relative to the project root when inside it."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


@dataclass(frozen=True)
class Config:
    """What the environment asks for."""

    paths: Paths
    mongo_port: int
    redis_port: int
    mongodb_uri: str  # "" when unset
    redis_url: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str], root: Path = ROOT) -> Config:
        """Read and validate the environment."""
        mongo_port = parse_port("JX_MONGO_PORT", environ.get("JX_MONGO_PORT", DEFAULT_MONGO_PORT))
        redis_port = parse_port("JX_REDIS_PORT", environ.get("JX_REDIS_PORT", DEFAULT_REDIS_PORT))
        return cls(
            paths=Paths(root, root / environ.get("JX_DATA_DIR", ".data")),
            mongo_port=mongo_port,
            redis_port=redis_port,
            mongodb_uri=environ.get("MONGODB_URI", ""),
            redis_url=environ.get("REDIS_URL", ""),
        )

    @property
    def local_mongo_uri(self) -> str:
        return f"mongodb://{HOST}:{self.mongo_port}/"

    @property
    def local_redis_url(self) -> str:
        return f"redis://{HOST}:{self.redis_port}/0"


# ---------------------------------------------------------------- the choices


class MongoChoice(enum.Enum):
    URI = "MONGODB_URI"
    MONGOD = "mongod"
    MONGO_JAVA_SERVER = "mongo-java-server"
    FERRETDB = "FerretDB"
    NONE = "none"


@dataclass(frozen=True)
class MongoFacts:
    """What is available for MongoDB."""

    uri_answers: bool  # MONGODB_URI is set and answers a ping
    mongod: bool  # on PATH
    java: bool
    maven: bool
    launcher_built: bool  # the mongo-java-server launcher jar is in .tools/
    ferretdb: bool  # its binary is built, or a Go toolchain can build it


def choose_mongo(facts: MongoFacts) -> MongoChoice:
    """Which MongoDB `up` uses; FerretDB v1 last, as it loses concurrent updates."""
    if facts.uri_answers:
        return MongoChoice.URI
    if facts.mongod:
        return MongoChoice.MONGOD
    if facts.java and (facts.launcher_built or facts.maven):
        return MongoChoice.MONGO_JAVA_SERVER
    if facts.ferretdb:
        return MongoChoice.FERRETDB
    return MongoChoice.NONE


class RedisChoice(enum.Enum):
    URL = "REDIS_URL"
    START = "start redis-server"
    INSTALL = "apt-get install redis-server, then start it"
    NOT_INSTALLED = "not installed, and not root"
    NO_APT = "not installed, and no apt-get"


@dataclass(frozen=True)
class RedisFacts:
    """What is available for Redis."""

    url_answers: bool  # REDIS_URL is set and answers PING
    redis_server: bool  # on PATH
    root: bool  # so apt-get may install it
    apt_get: bool


def choose_redis(facts: RedisFacts) -> RedisChoice:
    """Which Redis `up` uses."""
    if facts.url_answers:
        return RedisChoice.URL
    if facts.redis_server:
        return RedisChoice.START
    if not facts.root:
        return RedisChoice.NOT_INSTALLED
    if not facts.apt_get:
        return RedisChoice.NO_APT
    return RedisChoice.INSTALL


# ------------------------------------------------------------------ processes


@dataclass(frozen=True)
class Own:
    """A server `up` may have started, known by its pid file."""

    name: str  # in its command line (guards against pid reuse) and in messages
    pidfile: str  # in .data/run/
    logfile: str  # in .data/log/
    port_marks: tuple[str, ...]  # one of them, with {port}, is in its command line

    def listens_on(self, cmdline: str, port: int) -> bool:
        """Whether the command line ``cmdline`` serves on ``port``."""
        return any(mark.format(host=HOST, port=port) in cmdline for mark in self.port_marks)


MONGO_LAUNCHER = Own(
    "mongo-launcher", "mongo-launcher.pid", "mongo-java-server.log", ("--port {port} ",)
)
FERRETDB = Own("ferretdb", "ferretdb.pid", "ferretdb.log", ("={host}:{port} ",))
MONGOD = Own("mongod", "mongod.pid", "mongod.log", ("--port {port} ",))
OWN_MONGOS = (MONGO_LAUNCHER, FERRETDB, MONGOD)
# redis-server rewrites its command line to "redis-server 127.0.0.1:PORT".
REDIS_SERVER = Own("redis-server", "redis.pid", "redis.log", (":{port} ",))


def read_pid(pidfile: Path) -> int | None:
    """The pid in ``pidfile``, if it holds one."""
    try:
        digits = re.sub(r"[^0-9]", "", pidfile.read_text())
    except OSError:
        return None
    return int(digits) if digits and int(digits) > 0 else None


def proc_cmdline(pid: int) -> str:
    """The command line of ``pid``, arguments separated (and ended) by spaces."""
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def our_pid(pidfile: Path, name: str) -> int | None:
    """The pid in ``pidfile`` if that process is alive and its command line names ``name``."""
    pid = read_pid(pidfile)
    if pid is None or not alive(pid) or name not in proc_cmdline(pid):
        return None
    return pid


def drop_stale(paths: Paths, pidfile: Path, name: str) -> None:
    """Remove a pid file whose process is gone."""
    if pidfile.exists() and our_pid(pidfile, name) is None:
        log(f"removing stale pid file {paths.shown(pidfile)}")
        pidfile.unlink(missing_ok=True)


def send_signal(pid: int, signum: signal.Signals) -> None:
    """Signal ``pid``, which may have ended meanwhile."""
    with suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def stop_pidfile(pidfile: Path, name: str) -> bool:
    """Stop the process ``pidfile`` names, if it is ours; remove the file; whether it stopped one.

    Never touches a process whose command line does not mention ``name``.
    """
    pid = our_pid(pidfile, name)
    if pid is not None:
        send_signal(pid, signal.SIGTERM)
        if not wait_gone(pid, STOP_TIMEOUT_S):
            log(f"{name} (pid {pid}) ignored SIGTERM for {STOP_TIMEOUT_S:g}s; sending SIGKILL")
            send_signal(pid, signal.SIGKILL)
            wait_gone(pid, KILL_TIMEOUT_S)
        log(f"stopped {name} (pid {pid})")
    pidfile.unlink(missing_ok=True)
    return pid is not None


def log_tail(paths: Paths, logfile: Path) -> None:
    """Show the last lines of ``logfile`` on stderr, if it has any."""
    try:
        with logfile.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size == 0:
                return
            fh.seek(max(0, size - 64 * 1024))  # logs grow; the end is what matters
            lines = fh.read().decode(errors="replace").splitlines()
    except OSError:
        return
    log(f"last lines of {paths.shown(logfile)}:")
    sys.stderr.write("".join(f"{line}\n" for line in lines[-LOG_TAIL_LINES:]))
    sys.stderr.flush()


def run_logged(
    argv: Sequence[str],
    logfile: Path,
    *,
    append: bool = True,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Run ``argv`` with its output in ``logfile``; its exit status (127: not found)."""
    with logfile.open("a" if append else "w") as out:
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                check=False,
            )
        except FileNotFoundError:
            out.write(f"{argv[0]}: command not found\n")
            return 127
    return done.returncode


def spawn(argv: Sequence[str], logfile: Path) -> int:
    """Start ``argv`` in a session of its own (it outlives us); return its pid.

    stdin is /dev/null, output goes to ``logfile``. Our own descriptors are not
    inherited (Python opens them close-on-exec), above all not the lock's: a
    server holding it would block every later `up` and `down`.
    """
    return os.posix_spawnp(
        argv[0],
        list(argv),
        os.environ,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(logfile), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )


def first_line_of(argv: Sequence[str], extra_env: Mapping[str, str] | None = None) -> str:
    """The first line ``argv`` prints (with ``extra_env`` added), or "" if it fails."""
    env = {**os.environ, **extra_env} if extra_env else None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    except OSError:
        return ""
    return done.stdout.partition("\n")[0].strip() if done.returncode == 0 else ""


# --------------------------------------------------------------------- probes


def tcp_open(host: str, port: int) -> bool:
    """Whether something accepts connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def mongo_ping(uri: str, *, timeout_ms: int = 3000, direct: bool = False) -> bool:
    """Whether the MongoDB at ``uri`` answers a ping."""
    try:
        # Imported here: `down` runs from a bare python3 after `make clean`.
        # A tool of its own, outside the app's repositories (DESIGN.md).
        from pymongo import MongoClient  # noqa: TID251
    except ImportError as exc:
        raise ServicesError(
            f"pymongo is not importable by {sys.executable}; run: make install"
        ) from exc
    options: dict[str, Any] = {"directConnection": True} if direct else {}
    try:
        client: MongoClient[dict[str, Any]] = MongoClient(
            uri,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=timeout_ms,
            **options,
        )
        with client:
            client.admin.command("ping")
    except Exception:  # a bad URI, DNS, auth, a timeout: all mean "does not answer"
        return False
    return True


def mongo_ping_addr(host: str, port: int) -> bool:
    """Whether a MongoDB answers a ping on host:port."""
    # The port check first: readiness polls would wait out pymongo's server
    # selection timeout on every try while nothing listens yet.
    return tcp_open(host, port) and mongo_ping(
        f"mongodb://{host}:{port}/", timeout_ms=2000, direct=True
    )


def redis_ping(url: str) -> bool:
    """Whether the Redis at ``url`` answers PING."""
    try:
        import redis  # here, not at the top: see mongo_ping
    except ImportError as exc:
        raise ServicesError(
            f"redis-py is not importable by {sys.executable}; run: make install"
        ) from exc
    try:
        client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
        with client:
            return bool(client.ping())
    except (redis.RedisError, OSError, ValueError):
        return False


def wait_ready(
    paths: Paths, desc: str, pid: int | None, logfile: Path, check: Callable[[], bool]
) -> None:
    """Poll ``check`` until it passes; fail early if ``pid`` (when known) dies."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if check():
            return
        if pid is not None and not alive(pid):
            log_tail(paths, logfile)
            raise ServicesError(f"{desc} exited during startup (see {paths.shown(logfile)})")
        time.sleep(0.2)
    log_tail(paths, logfile)
    raise ServicesError(
        f"{desc} did not answer within {READY_TIMEOUT_S:g}s (see {paths.shown(logfile)})"
    )


def wait_pidfile(pidfile: Path) -> int | None:
    """The pid a self-daemonising server writes to ``pidfile``, once it does."""
    deadline = time.monotonic() + PIDFILE_TIMEOUT_S
    while (pid := read_pid(pidfile)) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return pid


def reuse_running(
    cfg: Config,
    *,
    service: str,
    owns: Sequence[Own],
    port: int,
    port_var: str,
    url: str,
    ping: Callable[[], bool],
) -> bool:
    """Whether a server already answers on our port: ours from an earlier `up`, or another's.

    Ours on another port is stopped (JX_*_PORT changed); a pid file of a process
    that is gone is removed; a port held by something else that does not answer
    is an error.
    """
    paths = cfg.paths
    for own in owns:
        pidfile = paths.run / own.pidfile
        pid = our_pid(pidfile, own.name)
        if pid is not None:
            if own.listens_on(proc_cmdline(pid), port):
                desc = f"{own.name} on {HOST}:{port}"
                wait_ready(paths, desc, pid, paths.log / own.logfile, ping)
                log(
                    f"{service}: {own.name} already running at {url}"
                    f" (pid {pid}; started by an earlier 'up')"
                )
                return True
            log(
                f"our {own.name} (pid {pid}) listens on another port than {port_var}={port};"
                " restarting it"
            )
            stop_pidfile(pidfile, own.name)
        drop_stale(paths, pidfile, own.name)
    if tcp_open(HOST, port):
        if ping():
            log(
                f"{service}: a server not started by this script already answers at {url};"
                " using it (started nothing)"
            )
            return True
        raise ServicesError(
            f"port {port} on {HOST} is taken by something that is not {service};"
            f" set {port_var} to a free port"
        )
    return False


# ---------------------------------------------------------------------- mongo


def find_go() -> str | None:
    """The Go toolchain: on PATH, or where the official tarball puts it."""
    if found := shutil.which("go"):
        return found
    fallback = "/usr/local/go/bin/go"
    return fallback if os.access(fallback, os.X_OK) else None


def ferret_ok(paths: Paths) -> bool:
    """Whether the built FerretDB is the pinned version."""
    binary = paths.ferret_bin
    if not os.access(binary, os.X_OK):
        return False
    try:
        done = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, check=False
        )
    except OSError:
        return False
    return done.returncode == 0 and f"version: {FERRET_VERSION}" in done.stdout.splitlines()


def no_mongo_help(reason: str) -> ServicesError:
    """The error when no MongoDB-compatible server can be had, with what to do."""
    return ServicesError(
        f"{reason}\n"
        "  To get a MongoDB-compatible server, do one of:\n"
        f"    - install Go >= 1.{GO_MIN_MINOR} (so FerretDB {FERRET_VERSION} can be built from"
        " tools/ferretdb/), or\n"
        "    - install mongod and put it on PATH, or\n"
        "    - set MONGODB_URI to a reachable MongoDB server."
    )


def ensure_ferretdb(paths: Paths) -> None:
    """Build FerretDB from tools/ferretdb/ into .tools/bin/, unless it is there."""
    if ferret_ok(paths):
        return
    go = find_go()
    if go is None:
        raise no_mongo_help("no mongod on PATH and no Go toolchain to build FerretDB")
    gover = first_line_of([go, "env", "GOVERSION"], {"GOTOOLCHAIN": "local"})
    match = re.match(r"go1\.([0-9]+)", gover)
    if match is None or int(match.group(1)) < GO_MIN_MINOR:
        raise no_mongo_help(
            f"Go at {go} is {gover or 'unusable'};"
            f" FerretDB {FERRET_VERSION} needs Go >= 1.{GO_MIN_MINOR}"
        )
    build = paths.tools / "build" / "ferretdb"
    buildlog = paths.log / "ferretdb-build.log"
    binary = paths.ferret_bin
    tmp = binary.with_name(binary.name + ".tmp")
    log(
        f"building FerretDB {FERRET_VERSION} with {gover} into {paths.shown(binary)}"
        " (once; about a minute)..."
    )
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    binary.parent.mkdir(parents=True, exist_ok=True)
    for name in ("go.mod", "go.sum"):
        shutil.copy(paths.root / "tools" / "ferretdb" / name, build / name)
    if not build_ferretdb(go, build, tmp, buildlog):
        tmp.unlink(missing_ok=True)
        log_tail(paths, buildlog)
        raise no_mongo_help(
            f"building FerretDB failed (full log: {paths.shown(buildlog)};"
            f" scratch dir: {paths.shown(build)})"
        )
    tmp.replace(binary)
    if not ferret_ok(paths):
        raise no_mongo_help(f"built {paths.shown(binary)} does not report version {FERRET_VERSION}")
    shutil.rmtree(build, ignore_errors=True)
    with suppress(OSError):  # not empty: something else is built there
        build.parent.rmdir()
    log(f"built {paths.shown(binary)} ({FERRET_VERSION})")


def build_ferretdb(go: str, build: Path, out: Path, buildlog: Path) -> bool:
    """Build FerretDB from the go.mod in ``build`` into ``out``; whether it built."""
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOWORK": "off", "CGO_ENABLED": "0"}
    env["GOFLAGS"] = "-buildvcs=false"
    if run_logged([go, "mod", "vendor"], buildlog, append=False, cwd=build, env=env) != 0:
        return False
    # The module zip lacks the generated build/version/version.txt (FerretDB
    # panics without it) and -overlay cannot patch GOMODCACHE, so vendor the
    # module and write the file into the vendored copy.
    version_txt = build / "vendor/github.com/FerretDB/FerretDB/build/version/version.txt"
    try:
        version_txt.write_text(f"{FERRET_VERSION}\n")
    except OSError as exc:
        with buildlog.open("a") as log_out:
            log_out.write(f"cannot write {version_txt}: {exc}\n")
        return False
    argv = [go, "build", "-mod=vendor", "-trimpath", "-o", str(out), FERRET_PKG]
    env["GOFLAGS"] = "-mod=vendor -buildvcs=false"
    return run_logged(argv, buildlog, cwd=build, env=env) == 0


def start_spawned(cfg: Config, own: Own, argv: Sequence[str], what: str) -> int:
    """Start a server that stays in the foreground, record its pid, wait until it answers."""
    paths = cfg.paths
    pidfile = paths.run / own.pidfile
    logfile = paths.log / own.logfile
    pidfile.unlink(missing_ok=True)
    try:
        pid = spawn(argv, logfile)
    except OSError as exc:
        log_tail(paths, logfile)
        raise ServicesError(f"{what} did not start ({exc})") from exc
    pidfile.write_text(f"{pid}\n")
    port = cfg.mongo_port
    wait_ready(paths, f"{what} on {HOST}:{port}", pid, logfile, lambda: mongo_ping_addr(HOST, port))
    return pid


def start_ferretdb(cfg: Config) -> None:
    """Start FerretDB (SQLite in .data/ferretdb/), building it first if needed."""
    paths = cfg.paths
    ensure_ferretdb(paths)
    (paths.data / "ferretdb").mkdir(parents=True, exist_ok=True)
    (paths.data / "ferretdb-state").mkdir(parents=True, exist_ok=True)
    argv = [
        str(paths.ferret_bin),
        "--handler=sqlite",
        f"--sqlite-url=file:{paths.data}/ferretdb/",
        f"--state-dir={paths.data}/ferretdb-state",
        f"--listen-addr={HOST}:{cfg.mongo_port}",
        "--debug-addr=-",
        "--telemetry=disable",
        "--log-level=warn",
    ]
    pid = start_spawned(cfg, FERRETDB, argv, "FerretDB")
    log(
        f"MongoDB: started FerretDB {FERRET_VERSION}"
        f" (SQLite in {paths.shown(paths.data / 'ferretdb')}/) at {cfg.local_mongo_uri} (pid {pid})"
    )


def ensure_mjs(paths: Paths) -> bool:
    """Build the mongo-java-server launcher with Maven unless it is up to date; whether it is."""
    jar = paths.mjs_jar
    sources = (
        paths.mjs_dir / "pom.xml",
        paths.mjs_dir / "src/main/java/jiangxin/MongoLauncher.java",
    )
    with suppress(OSError):  # no jar yet
        built = jar.stat().st_mtime_ns
        if all(built > source.stat().st_mtime_ns for source in sources):
            return True
    buildlog = paths.log / "mongo-java-server-build.log"
    log(
        f"building mongo-java-server launcher with Maven into {paths.shown(jar.parent)}"
        " (once; under a minute)..."
    )
    argv = ["mvn", "-q", "-B", "-f", str(paths.mjs_dir / "pom.xml"), "package"]
    if run_logged(argv, buildlog, append=False) != 0:
        log_tail(paths, buildlog)
        return False
    return jar.is_file()


def start_mjs(cfg: Config) -> None:
    """Start mongo-java-server (H2 in .data/mongo-java-server/)."""
    paths = cfg.paths
    store = paths.data / "mongo-java-server"
    store.mkdir(parents=True, exist_ok=True)
    argv = ["java", "-Xmx512m", "-XX:+UseSerialGC", "-jar", str(paths.mjs_jar)]
    argv += ["--host", HOST, "--port", str(cfg.mongo_port), "--data", str(store / "jiangxin.mv")]
    pid = start_spawned(cfg, MONGO_LAUNCHER, argv, "mongo-java-server")
    log(
        f"MongoDB: started mongo-java-server (H2 in {paths.shown(store)}/)"
        f" at {cfg.local_mongo_uri} (pid {pid})"
    )


def start_mongod(cfg: Config) -> None:
    """Start mongod (data in .data/mongod/); it forks and writes its own pid file."""
    paths = cfg.paths
    port = cfg.mongo_port
    pidfile = paths.run / MONGOD.pidfile
    logfile = paths.log / MONGOD.logfile
    out = paths.log / "mongod.out"
    dbpath = paths.data / "mongod"
    dbpath.mkdir(parents=True, exist_ok=True)
    pidfile.unlink(missing_ok=True)
    argv = ["mongod", "--dbpath", str(dbpath), "--bind_ip", HOST, "--port", str(port), "--fork"]
    argv += ["--logpath", str(logfile), "--logappend", "--pidfilepath", str(pidfile)]
    if run_logged(argv, out) != 0:
        log_tail(paths, out)
        log_tail(paths, logfile)
        raise ServicesError(f"mongod failed to start on {HOST}:{port}")
    pid = read_pid(pidfile)
    wait_ready(paths, f"mongod on {HOST}:{port}", pid, logfile, lambda: mongo_ping_addr(HOST, port))
    version = first_line_of(["mongod", "--version"]) or "unknown version"
    log(
        f"MongoDB: started mongod ({version}; data in {paths.shown(dbpath)}/)"
        f" at {cfg.local_mongo_uri} (pid {pid or '?'})"
    )


def mongo_facts(paths: Paths, uri_answers: bool) -> MongoFacts:
    """What this machine offers for MongoDB."""
    return MongoFacts(
        uri_answers=uri_answers,
        mongod=shutil.which("mongod") is not None,
        java=shutil.which("java") is not None,
        maven=shutil.which("mvn") is not None,
        launcher_built=paths.mjs_jar.is_file(),
        ferretdb=ferret_ok(paths) or find_go() is not None,
    )


def mongo_up(cfg: Config) -> str:
    """Make a MongoDB answer; return its URI."""
    uri = cfg.mongodb_uri
    uri_answers = bool(uri) and mongo_ping(uri)
    if uri and not uri_answers:
        log(
            f"note: MONGODB_URI={redact(uri)} does not answer a ping;"
            " ignoring it and using a local server"
        )
    local = cfg.local_mongo_uri
    if not uri_answers and reuse_running(
        cfg,
        service="MongoDB",
        owns=OWN_MONGOS,
        port=cfg.mongo_port,
        port_var="JX_MONGO_PORT",
        url=local,
        ping=lambda: mongo_ping_addr(HOST, cfg.mongo_port),
    ):
        return local
    facts = mongo_facts(cfg.paths, uri_answers)
    choice = choose_mongo(facts)
    if choice is MongoChoice.MONGO_JAVA_SERVER and not ensure_mjs(cfg.paths):
        choice = choose_mongo(dataclasses.replace(facts, java=False))  # it did not build
    match choice:
        case MongoChoice.URI:
            log(f"MongoDB: using MONGODB_URI from the environment: {redact(uri)} (started nothing)")
            return uri
        case MongoChoice.MONGOD:
            start_mongod(cfg)
            return local
        case MongoChoice.MONGO_JAVA_SERVER:
            start_mjs(cfg)
            return local
        case MongoChoice.FERRETDB | MongoChoice.NONE:
            log(
                "warning: no Java/Maven for mongo-java-server; FerretDB v1 loses concurrent"
                " updates, so concurrency tests will fail"
            )
            if choice is MongoChoice.NONE:
                raise no_mongo_help("no mongod on PATH and no Go toolchain to build FerretDB")
            start_ferretdb(cfg)
            return local


# ---------------------------------------------------------------------- redis


def install_redis_server(paths: Paths) -> None:
    """apt-get install redis-server (we run as root)."""
    log("installing redis-server with apt-get...")
    aptlog = paths.log / "apt-redis.log"
    aptlog.write_text("")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    update = ["apt-get", "update", "-qq"]
    install = ["apt-get", "install", "-y", "-qq", "redis-server"]
    if not glob.glob("/var/lib/apt/lists/*_Packages*"):
        run_logged(update, aptlog, env=env)  # a fresh image has no package lists
    if run_logged(install, aptlog, env=env) != 0:
        run_logged(update, aptlog, env=env)  # the lists may be stale
        if run_logged(install, aptlog, env=env) != 0:
            log_tail(paths, aptlog)
            raise ServicesError(
                "could not install redis-server with apt-get; install it by hand, or set REDIS_URL."
            )
    if shutil.which("redis-server") is None:
        raise ServicesError("redis-server still not on PATH after apt-get install")


def start_redis(cfg: Config) -> None:
    """Start redis-server without persistence; it daemonises and writes its own pid file."""
    paths = cfg.paths
    port = cfg.redis_port
    pidfile = paths.run / REDIS_SERVER.pidfile
    logfile = paths.log / REDIS_SERVER.logfile
    out = paths.log / "redis.out"
    workdir = paths.data / "redis"
    workdir.mkdir(parents=True, exist_ok=True)
    pidfile.unlink(missing_ok=True)
    argv = ["redis-server", "--bind", HOST, "--port", str(port), "--save", "", "--appendonly", "no"]
    argv += ["--daemonize", "yes", "--pidfile", str(pidfile), "--logfile", str(logfile)]
    argv += ["--dir", str(workdir)]
    if run_logged(argv, out) != 0:
        log_tail(paths, out)
        log_tail(paths, logfile)
        raise ServicesError(f"redis-server failed to start on {HOST}:{port}")
    pid = wait_pidfile(pidfile)
    url = cfg.local_redis_url
    wait_ready(paths, f"redis-server on {HOST}:{port}", pid, logfile, lambda: redis_ping(url))
    found = re.search(r"v=([0-9.]+)", first_line_of(["redis-server", "--version"]))
    version = f"{found.group(1)} " if found else ""
    log(f"Redis: started redis-server {version}(no persistence) at {url} (pid {pid or '?'})")


def redis_up(cfg: Config) -> str:
    """Make a Redis answer; return its URL."""
    url = cfg.redis_url
    url_answers = bool(url) and redis_ping(url)
    if url and not url_answers:
        log(
            f"note: REDIS_URL={redact(url)} does not answer PING;"
            " ignoring it and using a local server"
        )
    local = cfg.local_redis_url
    if not url_answers and reuse_running(
        cfg,
        service="Redis",
        owns=(REDIS_SERVER,),
        port=cfg.redis_port,
        port_var="JX_REDIS_PORT",
        url=local,
        ping=lambda: redis_ping(local),
    ):
        return local
    facts = RedisFacts(
        url_answers=url_answers,
        redis_server=shutil.which("redis-server") is not None,
        root=os.geteuid() == 0,
        apt_get=shutil.which("apt-get") is not None,
    )
    match choose_redis(facts):
        case RedisChoice.URL:
            log(f"Redis: using REDIS_URL from the environment: {redact(url)} (started nothing)")
            return url
        case RedisChoice.NOT_INSTALLED:
            raise ServicesError(
                "redis-server is not installed. Install it (Debian/Ubuntu: sudo apt-get install"
                " redis-server), or set REDIS_URL to a reachable Redis."
            )
        case RedisChoice.NO_APT:
            raise ServicesError(
                "redis-server is not installed and apt-get is unavailable; install Redis,"
                " or set REDIS_URL to a reachable Redis."
            )
        case RedisChoice.INSTALL:
            install_redis_server(cfg.paths)
    start_redis(cfg)
    return local


# ------------------------------------------------------------------- commands


@contextmanager
def locked(paths: Paths) -> Iterator[None]:
    """Hold .data/run/.lock: concurrent `up` and `down` runs take turns."""
    paths.run.mkdir(parents=True, exist_ok=True)
    paths.log.mkdir(parents=True, exist_ok=True)
    lockfile = paths.run / ".lock"
    with lockfile.open("w") as fh:
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while not try_flock(fh):
            if time.monotonic() >= deadline:
                raise ServicesError(f"another 'scripts/services' run holds {paths.shown(lockfile)}")
            time.sleep(0.2)
        yield


def try_flock(fh: IO[str]) -> bool:
    """Take an exclusive flock(2) on ``fh`` without waiting; whether we got it."""
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def env_value(env_file: Path, key: str) -> str | None:
    """The value of ``key`` in services.env."""
    try:
        lines = env_file.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(f"{key}="):
            return line.removeprefix(f"{key}=")
    return None


def cmd_up(cfg: Config) -> int:
    """Make both answer and write .data/services.env."""
    with locked(cfg.paths):
        mongodb_uri = mongo_up(cfg)
        redis_url = redis_up(cfg)
        env_file = cfg.paths.env_file
        tmp = env_file.with_name(f"{env_file.name}.tmp.{os.getpid()}")
        tmp.write_text(f"MONGODB_URI={mongodb_uri}\nREDIS_URL={redis_url}\n")
        tmp.replace(env_file)  # readers never see half a file
    return 0


def cmd_down(cfg: Config) -> int:
    """Stop what `up` started."""
    paths = cfg.paths
    with locked(paths):
        stopped = [
            stop_pidfile(paths.run / own.pidfile, own.name) for own in (*OWN_MONGOS, REDIS_SERVER)
        ]
        paths.env_file.unlink(missing_ok=True)
    if not any(stopped):
        log("nothing started by 'up' was running")
    return 0


def status_line(
    paths: Paths, label: str, uri: str | None, ping: Callable[[str], bool], ours: str
) -> bool:
    """Print the state of one service; whether it answers."""
    if not uri:
        missing = f"no {paths.shown(paths.env_file)}; run scripts/services up"
        print(f"{label} not up  ({missing})  (ours: {ours})")
        return False
    if ping(uri):
        print(f"{label} up      {redact(uri)}  (ours: {ours})")
        return True
    print(f"{label} DOWN    {redact(uri)} does not answer  (ours: {ours})")
    return False


def cmd_status(cfg: Config) -> int:
    """Print the state of each; 0 if both answer."""
    paths = cfg.paths
    ours = "none running"
    for own in OWN_MONGOS:
        if (pid := our_pid(paths.run / own.pidfile, own.name)) is not None:
            ours = f"{own.name} pid {pid}"
    mongo_uri = env_value(paths.env_file, "MONGODB_URI")
    mongo_ok = status_line(paths, "MongoDB:", mongo_uri, mongo_ping, ours)
    pid = our_pid(paths.run / REDIS_SERVER.pidfile, REDIS_SERVER.name)
    ours = "none running" if pid is None else f"{REDIS_SERVER.name} pid {pid}"
    redis_url = env_value(paths.env_file, "REDIS_URL")
    redis_ok = status_line(paths, "Redis:  ", redis_url, redis_ping, ours)
    sys.stdout.flush()
    return 0 if mongo_ok and redis_ok else 1


def cmd_env(cfg: Config) -> int:
    """Print .data/services.env."""
    env_file = cfg.paths.env_file
    try:
        text = env_file.read_text()
    except FileNotFoundError:
        raise ServicesError(
            f"no {cfg.paths.shown(env_file)} yet; run: scripts/services up"
        ) from None
    sys.stdout.write(text)
    return 0


COMMANDS: dict[str, Callable[[Config], int]] = {
    "up": cmd_up,
    "down": cmd_down,
    "status": cmd_status,
    "env": cmd_env,
}


def main(argv: Sequence[str], environ: Mapping[str, str] = os.environ) -> int:
    """Run the command in ``argv``; the exit status."""
    try:
        cfg = Config.from_env(environ)
        command = argv[0] if argv else ""
        if command in ("-h", "--help", "help"):
            sys.stdout.write(USAGE)
            return 0
        handler = COMMANDS.get(command)
        if handler is None:
            sys.stderr.write(USAGE)
            return 2
        return handler(cfg)
    except ServicesError as exc:
        log(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
