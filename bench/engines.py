"""Beam's portable engines on this machine: fetch them from the registries, start and stop them, and
the flags that point ``msrec preprocess`` / ``msrec batch-predict`` at each; and a check that two
preprocessing outputs hold the same data.

    python bench/engines.py fetch prism        # go install .../go/cmd/prism@v<apache-beam> (Go module proxy)
    python bench/engines.py fetch flink        # the Flink job-server jar through Maven (not served today)
    python bench/engines.py fetch spark        # Beam's Spark runner + job service + Spark jars (Maven)
    python bench/engines.py start prism        # a standalone Prism job server on --port (8073)
    python bench/engines.py start worker-pool  # an EXTERNAL SDK worker pool on --port (50000)
    python bench/engines.py start spark        # Beam's Spark job server, embedded Spark local[2], port 8099
    python bench/engines.py start spark-cluster  # a standalone Spark master (7077) and worker from pyspark
    python bench/engines.py start spark --spark-master spark://127.0.0.1:7077  # the job server on it
    python bench/engines.py stop [NAME]        # what `start` started, by its recorded process id
    python bench/engines.py status
    python bench/engines.py flags prism        # Beam flags: msrec preprocess ... $(... flags prism)
    python bench/engines.py compare DIR DIR    # exit 1 and list the differences unless equal

Everything fetched goes under ``$MSREC_ENGINES_CACHE`` (default ``~/.cache/msrec/engines``), named by
version, and a second fetch reuses it; ``go install`` keeps Go's own module and build caches too. Beam is
never left to download an engine itself: each flag set names a local binary or jar. Started services
keep ``run/NAME.{pid,log,json}`` in the cache; ``stop`` ends only those process ids.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import importlib.metadata
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]  # `python bench/engines.py`: the bench package and msrec
CACHE = pathlib.Path(os.environ.get("MSREC_ENGINES_CACHE", "~/.cache/msrec/engines")).expanduser()
PRISM_PACKAGE = "github.com/apache/beam/sdks/v2/go/cmd/prism"
FLINK_MINOR = "1.20"
DEFAULT_PORTS = {
    "prism": 8073,
    "worker-pool": 50000,
    "spark": 8099,
    "spark-master": 7077,
    "spark-worker": 7078,
}
# Maven serves no Spark job-server jar here, but the parts it is made of: Beam's Spark runner and job
# service at the newest version both are served at (the Python SDK 2.77 talks to it over the portable
# API), and Spark itself (provided scope in Beam's pom), of pyspark's minor for a standalone cluster.
SPARK_BEAM_VERSION, SPARK_VERSION = "2.62.0", "3.5.9"
SPARK_CLUSTER = ("spark-master", "spark-worker")
SPARK_MAIN = "org.apache.beam.runners.spark.SparkJobServerDriver"
# What Beam's own SparkRunner passes to the job server's JVM on Java 17 (runners/portability/spark_runner.py).
JAVA_OPENS = [
    f"--add-opens=java.base/{p}=ALL-UNNAMED"
    for p in ("sun.nio.ch", "java.nio", "java.util", "java.lang.invoke", "java.lang", "sun.util.calendar")
]
SPARK_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>msrec.engines</groupId><artifactId>spark-job-server</artifactId><version>1</version>
<packaging>pom</packaging><dependencies>{}</dependencies></project>"""
SPARK_ARTIFACTS = (
    ("org.apache.beam", "beam-runners-spark-3", SPARK_BEAM_VERSION),
    ("org.apache.beam", "beam-runners-java-job-service", SPARK_BEAM_VERSION),
    ("org.apache.spark", "spark-core_2.12", SPARK_VERSION),
    ("org.apache.spark", "spark-streaming_2.12", SPARK_VERSION),
)


class EngineError(Exception):
    """An engine cannot be had or started; the message says what to do."""


def beam_version() -> str:
    """The installed apache-beam's version: Prism and the job servers are taken at the same one."""
    return importlib.metadata.version("apache-beam")


@contextlib.contextmanager
def _locked(name: str):
    """One fetch of ``name`` at a time across processes (pytest-xdist workers fetch at once)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def prism_binary(version: str | None = None) -> pathlib.Path:
    return CACHE / "prism" / f"v{version or beam_version()}" / "prism"


def fetch_prism(version: str | None = None) -> pathlib.Path:
    """``go install`` of Prism at the Beam version into the cache; reused when already there."""
    version = version or beam_version()
    binary = prism_binary(version)
    with _locked("prism"):
        if binary.exists():
            return binary
        if shutil.which("go") is None:
            raise EngineError("Prism is built with Go, and `go` is not on PATH: install Go 1.26 or newer.")
        # -modcacherw: a module cache that `rm -rf` (or CI's cleanup) can remove.
        goflags = f"{os.environ.get('GOFLAGS', '')} -modcacherw".strip()
        env = {**os.environ, "GOBIN": str(binary.parent), "GOFLAGS": goflags}
        done = subprocess.run(
            ["go", "install", "-ldflags=-s -w", f"{PRISM_PACKAGE}@v{version}"],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise EngineError(f"go install {PRISM_PACKAGE}@v{version} failed:\n{done.stderr.strip()}")
    return binary


def _maven_error(output: str) -> str:
    """Maven's first ERROR line, without colours or the help pointer."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in output.splitlines()]
    line = next((x for x in lines if "ERROR" in x), lines[-1] if lines else "no output")
    return line.replace("[ERROR] ", "").split(" -> [Help")[0].strip()


def flink_job_server_artifact(version: str | None = None) -> str:
    return f"org.apache.beam:beam-runners-flink-{FLINK_MINOR}-job-server:{version or beam_version()}"


def fetch_flink(version: str | None = None) -> pathlib.Path:
    """The Flink job-server jar through Maven (``mvn dependency:copy``); reused when already there."""
    artifact = flink_job_server_artifact(version)
    name = "{1}-{2}.jar".format(*artifact.split(":"))
    jar = CACHE / "flink" / name
    with _locked("flink"):
        if jar.exists():
            return jar
        if shutil.which("mvn") is None:
            raise EngineError("The Flink job server comes through Maven, and `mvn` is not on PATH.")
        command = ["mvn", "-B", "-q", "-U", "dependency:copy", f"-Dartifact={artifact}"]
        done = subprocess.run(
            [*command, f"-DoutputDirectory={jar.parent}", "-Dtransitive=false"],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0 or not jar.exists():
            raise EngineError(f"Maven does not serve {artifact} here: {_maven_error(done.stdout)}")
    return jar


def spark_classpath() -> pathlib.Path:
    return CACHE / "spark" / f"beam-{SPARK_BEAM_VERSION}-spark-{SPARK_VERSION}" / "lib"


def fetch_spark() -> pathlib.Path:
    """Beam's Spark job server as a folder of jars (``mvn dependency:copy-dependencies``)."""
    lib = spark_classpath()
    with _locked("spark"):
        if (lib / ".complete").exists():
            return lib
        if shutil.which("mvn") is None:
            raise EngineError("The Spark job server comes through Maven, and `mvn` is not on PATH.")
        dependency = (
            "<dependency><groupId>{}</groupId><artifactId>{}</artifactId><version>{}</version></dependency>"
        )
        pom = lib.parent / "pom.xml"
        lib.parent.mkdir(parents=True, exist_ok=True)
        pom.write_text(SPARK_POM.format("".join(dependency.format(*a) for a in SPARK_ARTIFACTS)))
        goal = ["dependency:copy-dependencies", f"-DoutputDirectory={lib}", "-DincludeScope=runtime"]
        done = subprocess.run(["mvn", "-B", "-q", "-f", str(pom), *goal], capture_output=True, text=True)
        if done.returncode != 0:
            raise EngineError(f"Maven did not fetch the Spark job server: {_maven_error(done.stdout)}")
        (lib / ".complete").touch()
    return lib


def fetch_spark_cluster() -> pathlib.Path:
    """pyspark at the job server's Spark version in a virtualenv of its own; returns its SPARK_HOME.

    The standalone master and worker must be the very Spark release the job server's driver runs
    (3.5.0 against 3.5.9 fails on a serialVersionUID of org.apache.spark.scheduler.Task).
    """
    venv = CACHE / "spark" / f"pyspark-{SPARK_VERSION}"
    with _locked("spark-cluster"):
        homes = glob.glob(str(venv / "lib" / "python*" / "site-packages" / "pyspark" / "bin" / "spark-class"))
        if homes:
            return pathlib.Path(homes[0]).parents[1]
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
        done = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", f"pyspark=={SPARK_VERSION}"],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise EngineError(f"pip install pyspark=={SPARK_VERSION} failed: {done.stderr.strip()[-300:]}")
    return fetch_spark_cluster()


def flags(engine: str, port: int | None = None) -> list[str]:
    """The Beam flags that send an msrec job to ``engine`` (fetching what it needs first)."""
    if engine == "prism":
        # Its own job server: Beam shares one per process, and the first one made wins; in a process
        # that ran a DirectRunner job first (which tries Prism from a GitHub download) it has no binary.
        own_server = "--experiments=disable_prism_server_singleton"
        binary = f"--prism_location={fetch_prism()}"
        return ["--runner=PrismRunner", binary, own_server, "--environment_type=LOOPBACK"]
    if engine == "prism-server":  # a server from `start prism`
        endpoint = f"localhost:{port or DEFAULT_PORTS['prism']}"
        return ["--runner=PortableRunner", f"--job_endpoint={endpoint}", "--environment_type=LOOPBACK"]
    if engine == "prism-external":  # Prism with SDK workers from `start worker-pool`, as on a cluster
        pool = f"localhost:{port or DEFAULT_PORTS['worker-pool']}"
        return [*flags("prism")[:3], "--environment_type=EXTERNAL", f"--environment_config={pool}"]
    if engine == "flink":
        jar = fetch_flink()
        return [
            "--runner=FlinkRunner",
            "--flink_master=[local]",
            f"--flink_version={FLINK_MINOR}",
            f"--flink_job_server_jar={jar}",
            "--environment_type=LOOPBACK",
        ]
    if engine in ("spark", "spark-external"):  # a job server from `start spark`
        endpoint = f"--job_endpoint=localhost:{port or DEFAULT_PORTS['spark']}"
        if engine == "spark":  # embedded local[N]: SDK workers in the submitting process
            return ["--runner=PortableRunner", endpoint, "--environment_type=LOOPBACK"]
        pool = f"--environment_config=localhost:{DEFAULT_PORTS['worker-pool']}"  # `start worker-pool`
        return ["--runner=PortableRunner", endpoint, "--environment_type=EXTERNAL", pool]
    raise EngineError(
        f"no engine {engine!r}: prism, prism-server, prism-external, flink, spark, spark-external"
    )


def _run_dir() -> pathlib.Path:
    path = CACHE / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_for_port(port: int, process: subprocess.Popen, seconds: float = 60.0) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise EngineError(f"it exited with status {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("localhost", port), timeout=1):
            return
        time.sleep(0.5)
    raise EngineError(f"nothing listens on port {port} after {seconds:.0f} s")


def _spark_command(name: str, port: int, master: str) -> list[str]:
    if name == "spark":
        ports = [f"--job-port={port}", f"--artifact-port={port - 1}", f"--expansion-port={port - 2}"]
        java = ["java", *JAVA_OPENS, "-cp", f"{fetch_spark()}/*", SPARK_MAIN]
        return [*java, *ports, f"--spark-master-url={master}"]
    spark_class = [str(fetch_spark_cluster() / "bin" / "spark-class")]
    # Spark's launchers take "--flag value", not "--flag=value".
    if name == "spark-master":
        main = ["org.apache.spark.deploy.master.Master", "--port", str(port), "--webui-port", "8180"]
    else:
        main = ["org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{DEFAULT_PORTS['spark-master']}"]
        main += ["--port", str(port), "--webui-port", "8181", "--cores", "2", "--memory", "4g"]
    return [*spark_class, *main, "--host", "127.0.0.1"]


def _command(name: str, port: int, spark_master: str = "local[2]") -> list[str]:
    if name == "prism":
        return [str(fetch_prism()), f"--job_port={port}", "--serve_http=false"]
    if name == "worker-pool":
        # Workers are spawned as `python` from PATH: start this with the venv's Python first on PATH.
        return [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={port}"]
    if name.startswith("spark"):
        return _spark_command(name, port, spark_master)
    raise EngineError(f"no service {name!r}: prism, worker-pool, spark, spark-master or spark-worker")


def start(name: str, port: int | None = None, spark_master: str = "local[2]") -> dict:
    """Starts ``name`` in the background unless it already runs; returns its record."""
    known = status().get(name)
    if known and known["running"]:
        return known
    port = port or DEFAULT_PORTS[name]
    command = _command(name, port, spark_master)
    log = open(_run_dir() / f"{name}.log", "w")
    env = {**os.environ, "PATH": f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}"}
    # Spark's driver, master and worker bind and advertise loopback only, never the host's address.
    env.update(SPARK_LOCAL_IP="127.0.0.1", SPARK_WORKER_DIR=str(_run_dir() / "spark-work"))
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    record = {"name": name, "pid": process.pid, "port": port, "command": command}
    (_run_dir() / f"{name}.json").write_text(json.dumps(record))
    try:
        _wait_for_port(port, process)
    except EngineError as e:
        stop(name)
        raise EngineError(f"{name} did not start ({e}); see {log.name}") from None
    return {**record, "running": True}


def stop(name: str | None = None) -> list[str]:
    """Ends what ``start`` started (its process group, by the recorded id); returns the names."""
    stopped = []
    for path in sorted(_run_dir().glob("*.json")):
        record = json.loads(path.read_text())
        if name not in (None, record["name"]):
            continue
        if _alive(record["pid"]):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(record["pid"], signal.SIGTERM)
            stopped.append(record["name"])
        path.unlink()
    return stopped


def status() -> dict[str, dict]:
    """Each started service (running or not) and each fetched engine."""
    out = {}
    for path in sorted(_run_dir().glob("*.json")):
        record = json.loads(path.read_text())
        out[record["name"]] = {**record, "running": _alive(record["pid"])}
    for binary in sorted(glob.glob(str(CACHE / "prism" / "*" / "prism"))):
        out[f"fetched prism {pathlib.Path(binary).parent.name}"] = {"path": binary}
    for jar in sorted(glob.glob(str(CACHE / "flink" / "*.jar"))):
        out[f"fetched {pathlib.Path(jar).name}"] = {"path": jar}
    if (spark_classpath() / ".complete").exists():
        out[f"fetched spark job server {SPARK_BEAM_VERSION}"] = {"path": str(spark_classpath())}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/engines.py", description=__doc__.split("\n\n")[0])
    p.add_argument("verb", choices=("fetch", "start", "stop", "status", "flags", "compare"))
    p.add_argument("names", nargs="*", help="engine or service names; compare: two data directories")
    p.add_argument("--port", type=int, help="start/flags: the service's port")
    p.add_argument("--spark-master", default="local[2]", help="start spark: local[N] or spark://HOST:PORT")
    args = p.parse_args(argv)
    try:
        if args.verb == "compare":
            from bench.outputs import compare  # TensorFlow, only here

            differences = compare(*args.names)
            print("\n".join(differences) or "equal")
            return 1 if differences else 0
        if args.verb == "fetch":
            fetchers = {"prism": fetch_prism, "flink": fetch_flink, "spark": fetch_spark}
            fetchers["spark-cluster"] = fetch_spark_cluster
            fetched = {n: str(fetchers[n]()) for n in args.names}
            print(json.dumps(fetched, indent=2))
        elif args.verb == "start":
            names = [m for n in args.names for m in (SPARK_CLUSTER if n == "spark-cluster" else [n])]
            print(json.dumps([start(n, args.port, args.spark_master) for n in names], indent=2))
        elif args.verb == "stop":
            print(json.dumps(stop(*args.names[:1])))
        elif args.verb == "status":
            print(json.dumps(status(), indent=2))
        else:
            print(" ".join(flags(args.names[0], args.port)))
    except (EngineError, KeyError) as e:
        print(f"engines.py: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
