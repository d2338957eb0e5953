"""The Ray executor on a real cluster on loopback — a head and one worker node, as separate
processes: the `tiny` build gives the local build's tables, also when the worker node is killed
while it runs a task; failing tasks are retried, then reported by name with a non-zero exit."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

pytest.importorskip("ray", reason="the Ray executor tests need Ray: pip install 'ray>=2.9' "
                                  "(extra [ray])")

from conftest import TINY  # noqa: E402
from test_build import snapshot  # noqa: E402

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").is_file(),
                                reason="finds a node's processes through Linux /proc")
pytestmark = [pytestmark, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
RAY_CLI = (Path(sys.executable).with_name("ray") if Path(sys.executable).with_name("ray").is_file()
           else shutil.which("ray"))
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0",
       # A throwaway cluster on loopback: no token to share between its processes.
       "RAY_AUTH_MODE": "disabled",
       # The head notices a dead node after ~3 missed 1 s health checks (default 5 × 3 s).
       "RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _session_processes(sid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the live processes of session ``sid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # Field 6 of /proc/PID/stat is the session id; the command name may contain spaces.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid and fields[0] != "Z":
                found.append((int(entry.name),
                              (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
    return found


class LoopbackCluster:
    """Ray nodes started with ``ray start --block``, each in its own session, so that one node
    — its raylet, agents and workers — can be found and killed by session id."""

    def __init__(self):
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        # Short: Ray's unix socket paths under it must fit in 107 bytes.
        self.temp_dir = tempfile.mkdtemp(prefix="rle-ray-", dir="/tmp")
        self.nodes: list[subprocess.Popen] = []

    def _start(self, *args: str) -> subprocess.Popen:
        log = open(Path(self.temp_dir) / f"node{len(self.nodes)}.log", "w")
        node = subprocess.Popen(
            [str(RAY_CLI), "start", "--block", "--node-ip-address=127.0.0.1", "--num-cpus=1",
             "--object-store-memory=100000000", *args],
            env=ENV, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.nodes.append(node)
        return node

    def start(self) -> None:
        self._start("--head", f"--port={self.port}", "--include-dashboard=false",
                    f"--temp-dir={self.temp_dir}")
        self.worker = self._start(f"--address={self.address}")
        self._wait_for_nodes(2)

    def _wait_for_nodes(self, n: int, timeout: float = 120.0) -> None:
        # A short-lived driver polls the GCS (ray.init itself retries until the head is up).
        script = "\n".join([
            "import ray, sys, time",
            "address, n, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])",
            "ray.init(address=address, logging_level='error')",
            "deadline = time.monotonic() + timeout",
            "while sum(node['Alive'] for node in ray.nodes()) < n:",
            "    if time.monotonic() > deadline:",
            "        sys.exit(1)",
            "    time.sleep(0.2)"])
        result = subprocess.run([sys.executable, "-c", script, self.address, str(n), str(timeout)],
                                env=ENV, capture_output=True, text=True, timeout=timeout + 60)
        assert result.returncode == 0, (f"cluster did not reach {n} nodes:\n"
                                        f"{result.stderr[-2000:]}\n{self.logs()}")

    def busy_workers(self, node: subprocess.Popen) -> list[int]:
        """Pids of the node's Ray workers running a build task now (Ray titles a worker
        ``ray::<function>`` while it runs one — the executor's ``_call_with_threads``)."""
        return [pid for pid, cmd in _session_processes(node.pid)
                if cmd.startswith("ray::_call_with_threads")]

    def kill(self, node: subprocess.Popen) -> None:
        """SIGKILL every process of the node's session: raylet, agents, workers."""
        for pid, _ in _session_processes(node.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        node.wait(timeout=30)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}"
                         for p in sorted(Path(self.temp_dir).glob("node*.log")))

    def stop(self) -> None:
        for node in reversed(self.nodes):
            self.kill(node)   # a throwaway cluster: no graceful shutdown needed
        shutil.rmtree(self.temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    c = LoopbackCluster()
    try:
        c.start()
        yield c
    finally:
        c.stop()


def build_command(db: Path, cache: Path, address: str) -> list[str]:
    return [sys.executable, "-m", "core", "build", "--experiment", str(TINY), "--db", str(db),
            "--cache", str(cache), "--quiet", "--executor", "ray", "--ray-address", address]


def assert_same_tables(expected_db: Path, got_db: Path) -> None:
    expected, got = snapshot(expected_db), snapshot(got_db)
    assert expected.keys() == got.keys()
    for table in expected:
        pd.testing.assert_frame_equal(got[table], expected[table], check_exact=False,
                                      rtol=1e-6, obj=table)


def test_ray_build_on_two_nodes_gives_the_local_tables(tiny_db, cluster, tmp_path):
    db = tmp_path / "ray.duckdb"
    result = subprocess.run(build_command(db, tmp_path / "cache", cluster.address), env=ENV,
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:] + cluster.logs()
    assert "(ray executor, networks on cpu)" in result.stdout
    assert_same_tables(tiny_db, db)


def test_failing_task_is_retried_then_reported_and_others_finish(cluster, tmp_path, monkeypatch):
    from core.pipeline.executors import Task
    from core.pipeline.ray_executor import RayExecutor

    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    # Builtins travel to the workers by reference. Each attempt appends a character to its log;
    # "flaky" fails on its first attempt only, "broken" on every attempt.
    attempt = "open({log!r}, 'a').write('x')\n"
    flaky = attempt + "if len(open({log!r}).read()) == 1: raise ZeroDivisionError('first try')"
    broken = attempt + "raise ValueError('bad pixels in sample 7')"
    logs = {name: str(tmp_path / name) for name in ("flaky", "broken")}
    tasks = [Task("flaky", "evaluate m on flaky", exec, (flaky.format(log=logs["flaky"]), {})),
             Task("broken", "evaluate m on broken", exec, (broken.format(log=logs["broken"]), {})),
             Task("fine", "evaluate m on fine", divmod, (7, 2))]
    executor = RayExecutor(cluster.address, max_retries=2)
    try:
        outcomes = {o.task.key: o for o in executor.run(tasks)}
    finally:
        executor.close()
    assert outcomes["fine"].value == (3, 1) and outcomes["fine"].error is None
    assert outcomes["flaky"].error is None
    assert outcomes["broken"].error == "ValueError: bad pixels in sample 7"
    attempts = {name: len(Path(log).read_text()) for name, log in logs.items()}
    assert attempts == {"flaky": 2, "broken": 3}   # 1 + max_retries for the broken one


FAILING = """
name = "failing"
[dataset]
name = "fashion_mnist"
train_limit = 200
n_per_class = 2
[[arch]]
arch = "lenet5"
epochs = 0.2
[[arch]]
# Valid as a file (every key passes its rule) but VGG-16 takes no feature width: its training
# task raises, after the experiment was accepted.
arch = "vgg16"
feature_dim = 2
epochs = 0.2
methods = []
[pruning]
methods = ["magnitude"]
ratios = [0.5]
retrain = [false]
[mpt]
enabled = false
[benchmarks]
corruptions = ["brightness"]
severities = [1]
"""


def test_build_with_a_failing_task_exits_non_zero_and_names_it(cluster, tmp_path):
    """A model whose task raises: the rest of the grid is built and evaluated,
    the analysis waits for a complete grid, and the exit status and summary name the model."""
    experiment = tmp_path / "failing.toml"
    experiment.write_text(FAILING)
    db = tmp_path / "failing.duckdb"
    command = build_command(db, tmp_path / "cache", cluster.address)
    command[command.index(str(TINY))] = str(experiment)
    result = subprocess.run(command + ["--max-retries", "1"], env=ENV, capture_output=True,
                            text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 1, result.stderr[-3000:]
    summary = result.stderr[result.stderr.index("build incomplete"):]
    assert "1 task(s) failed" in summary
    assert "build vgg16-m2-dense-r0.0-s0: TypeError:" in summary
    con = duckdb.connect(str(db), read_only=True)
    built = sorted(m for (m,) in con.execute("SELECT model_id FROM models").fetchall())
    pairs = con.execute("SELECT count(*) FROM evaluations").fetchone()[0]
    analysed = con.execute("SELECT count(*) FROM robustness").fetchone()[0]
    con.close()
    assert built == ["lenet5-dense-r0.0-s0", "lenet5-magnitude-r0.5-s0"]
    assert pairs == 2 * 2 and analysed == 0   # both models on clean and brightness-1


def test_killing_the_worker_node_mid_task_keeps_the_tables(tiny_db, cluster, tmp_path):
    """SIGKILL the worker node while it runs a task: the task is rescheduled on the head and
    the build completes with the local build's tables."""
    db, cache = tmp_path / "killed.duckdb", tmp_path / "cache"
    out, err = open(tmp_path / "out.log", "w+"), open(tmp_path / "err.log", "w+")
    build = subprocess.Popen(build_command(db, cache, cluster.address), env=ENV, stdout=out,
                             stderr=err, cwd=ROOT)
    try:
        deadline = time.monotonic() + 300
        while not cluster.busy_workers(cluster.worker):
            assert build.poll() is None, "the build ended before the worker node ran a task"
            assert time.monotonic() < deadline, "the worker node never ran a task"
            time.sleep(0.05)
        cluster.kill(cluster.worker)
        assert build.poll() is None   # killed mid-build
        returncode = build.wait(timeout=600)
    finally:
        if build.poll() is None:
            build.kill()
        out.close()
        err.close()
    log = (tmp_path / "err.log").read_text()
    if returncode != 0:
        # No capacity left: the build must say so; the rerun then finishes the grid.
        assert returncode in (1, 2) and "rerun" in log, log[-3000:]
        rerun = subprocess.run(build_command(db, cache, cluster.address), env=ENV,
                               capture_output=True, text=True, timeout=600, cwd=ROOT)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert_same_tables(tiny_db, db)
