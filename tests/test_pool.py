"""The pool executor: tasks in worker processes of this machine give the results of the same
calls run in this process (at the workers' thread count), failures come back as outcomes, and
large inputs travel once as memory-mapped files."""

import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from build_processes import processes_of, survivors, tagged_env, wait_for
from core.pipeline.executors import LocalExecutor, PoolExecutor, Task, make_executor
from core.pipeline.tasks import (ModelWeights, evaluate_model_task, state_from_bytes,
                                 train_model_task)


def _sum_and_flags(array, scale=1):
    return float(np.asarray(array, dtype=np.float64).sum()) * scale, array.flags.writeable


def _fail_on(value):
    if value == 2:
        raise ValueError(f"value {value} is refused\nsecond line")
    return value * 10


def _die(value):
    if value == 1:
        os._exit(3)      # the worker process vanishes, as when killed
    return value


@pytest.fixture(scope="module")
def pool():
    executor = PoolExecutor(2)
    yield executor
    executor.close()


def test_large_inputs_travel_once_as_memory_maps_and_arrive_equal(pool):
    big = np.arange(100_000, dtype=np.int64)          # 800 kB: shared through a file
    small = np.arange(10, dtype=np.int64)
    big_handle, small_handle = pool.put(big), pool.put(small)
    assert small_handle is small
    assert big_handle is not big and os.path.isfile(big_handle.path)
    outcomes = list(pool.run([Task(i, f"sum {i}", _sum_and_flags, (big_handle,), dict(scale=i))
                              for i in range(4)] + [Task("small", "sum", _sum_and_flags,
                                                         (small_handle,))]))
    got = {o.task.key: o.value for o in outcomes}
    for i in range(4):
        assert got[i] == (float(big.sum()) * i, False)   # read-only: a map, not a copy
    assert got["small"] == (45.0, True)
    shared = big_handle.path
    pool.close()
    assert not os.path.exists(shared), "close() removes the shared files"


def test_a_failing_task_comes_back_as_an_outcome_and_the_others_finish(pool):
    outcomes = {o.task.key: o for o in pool.run(
        Task(v, f"value {v}", _fail_on, (v,)) for v in range(5))}
    assert set(outcomes) == set(range(5))
    assert outcomes[2].value is None
    assert outcomes[2].error == "ValueError: value 2 is refused"
    assert {k: o.value for k, o in outcomes.items() if k != 2} == {0: 0, 1: 10, 3: 30, 4: 40}


def test_a_dead_worker_fails_its_task_and_a_new_pool_serves_the_next_run(pool):
    outcomes = {o.task.key: o for o in pool.run([Task(1, "dies", _die, (1,))])}
    assert "worker process died" in outcomes[1].error
    again = {o.task.key: o.value for o in pool.run(Task(v, "ok", _die, (v,)) for v in (2, 3))}
    assert again == {2: 2, 3: 3}


def _tiny_data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.int64)
    return images, labels


def test_train_and_evaluate_tasks_equal_the_same_tasks_in_this_process(pool):
    """Bit for bit: the pool changes where a task runs, not what it computes (every executor
    runs a task with the same torch thread count, whatever this process uses)."""
    from core.models import arch_config
    from core.pipeline.experiment import ArchSpec

    images, labels = _tiny_data()
    spec = ArchSpec(arch="lenet5", epochs=0.5, lr=0.05, optimizer="sgd", batch_size=32,
                    weight_decay=5e-4)
    config = arch_config("lenet5", in_channels=1, num_classes=10, width=1.0,
                         input_size=28)
    from core.pipeline.plan import ModelJob

    dense = ModelJob("d", spec, 1.0, "dense", 0.0, False, config, 0, 0.25, 0.01, 1.0, 0.1)
    pruned = ModelJob("p", spec, 1.0, "magnitude", 0.5, True, config, 0, 0.25, 0.01, 1.0, 0.1)

    def local(fn, *args):
        [outcome] = LocalExecutor().run([Task("k", "local", fn, args)])
        return outcome.value

    threads = torch.get_num_threads()
    local_dense = local(train_model_task, dense, images, labels)
    local_pruned = local(train_model_task, pruned, images, labels, local_dense.state)
    weights = ModelWeights("p", config, local_pruned.state, "digest")
    bench = [images[:64], images[64:128]]
    local_eval = local(evaluate_model_task, weights, ["a", "b"], labels[:64], np.arange(64),
                       *bench)
    assert torch.get_num_threads() == threads, "the local executor restores the thread count"

    shared = pool.put(images), pool.put(labels)
    [remote_dense] = [o.value for o in pool.run([Task("d", "dense", train_model_task,
                                                      (dense, *shared))])]
    [remote_pruned] = [o.value for o in pool.run([Task("p", "pruned", train_model_task,
                                                       (pruned, *shared, remote_dense.state))])]
    [remote_eval] = [o.value for o in pool.run([Task(
        "e", "evaluate", evaluate_model_task,
        (weights, ["a", "b"], labels[:64], np.arange(64), *(pool.put(b) for b in bench)))])]

    for local, remote in ((local_dense, remote_dense), (local_pruned, remote_pruned)):
        a, b = state_from_bytes(local.state), state_from_bytes(remote.state)
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), key
        assert local.summary == remote.summary
    assert remote_eval.metrics.equals(local_eval.metrics)
    assert remote_eval.evaluations.equals(local_eval.evaluations)


def test_make_executor_validates_its_options():
    assert isinstance(make_executor("local"), LocalExecutor)
    pool = make_executor("pool", workers=3)
    assert isinstance(pool, PoolExecutor) and pool.workers == 3
    pool.close()
    with pytest.raises(ValueError, match=r"`workers` must be an integer >= 1. Got 0 instead."):
        make_executor("pool", workers=0)
    with pytest.raises(ValueError, match="needs the pool executor"):
        make_executor("local", workers=2)
    with pytest.raises(ValueError, match="needs the Ray executor"):
        make_executor("pool", address="127.0.0.1:1")
    with pytest.raises(ValueError, match="must be one of local, pool, ray"):
        make_executor("threads")


_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _start_build(script: str, *, pythonpath: str = _REPO) -> tuple[subprocess.Popen, str]:
    """A process that owns a pool, as a build does, tagged so that all its processes are found."""
    tag, env = tagged_env(PYTHONPATH=f"{pythonpath}{os.pathsep}{os.path.dirname(__file__)}")
    return subprocess.Popen([sys.executable, "-c", script], cwd=os.path.dirname(__file__),
                            env=env), tag


def test_workers_stop_when_the_build_process_is_killed(tmp_path):
    """SIGKILL the process that owns a pool while its workers run long tasks: the workers and
    their resource tracker exit too, instead of computing results nobody receives."""
    import signal

    pids = tmp_path / "pids"
    proc, tag = _start_build(f"""
from core.pipeline.executors import PoolExecutor, Task
from test_pool import _sleep_and_report
pool = PoolExecutor(2)
for _ in pool.run(Task(i, "sleep", _sleep_and_report, ({str(pids)!r},)) for i in range(2)):
    pass
""")
    workers = wait_for(lambda: len(_lines(pids)) == 2 and [int(p) for p in _lines(pids)],
                       within=120, what="both workers to start a task")
    assert set(workers) < set(processes_of(tag)), "the tag finds the workers"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert survivors(tag, within=10) == {}


def test_workers_stop_when_the_build_is_killed_while_they_start(tmp_path):
    """SIGKILL the build while its workers are still importing torch (the seconds right after a
    pool starts): they watch their parent before that import, so they exit too. A stand-in
    torch that records its import and then hangs holds the workers in that window."""
    import signal

    started = tmp_path / "started"
    stand_in = tmp_path / "stand_in" / "torch"
    stand_in.mkdir(parents=True)
    (stand_in / "__init__.py").write_text(
        f"import os, time\nwith open({str(started)!r}, 'a') as f:\n    f.write(f'{{os.getpid()}}\\n')\n"
        "time.sleep(300)\n")
    proc, tag = _start_build("""
import time
from core.pipeline.executors import PoolExecutor
pool = PoolExecutor(2)
time.sleep(300)
""", pythonpath=f"{stand_in.parent}{os.pathsep}{_REPO}")
    importing = wait_for(lambda: len(_lines(started)) == 2 and [int(p) for p in _lines(started)],
                         within=120, what="both workers to begin importing torch")
    assert proc.pid not in importing, "the build itself never imports torch"
    processes = processes_of(tag)
    assert set(importing) < set(processes)
    assert any("resource_tracker" in cmd for cmd in processes.values()), processes
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert survivors(tag, within=10) == {}


def test_a_worker_whose_build_is_already_gone_exits_before_importing_torch(tmp_path):
    stand_in = tmp_path / "torch"
    stand_in.mkdir()
    (stand_in / "__init__.py").write_text("raise SystemExit('torch was imported')\n")
    code = ("import os\nfrom core.pipeline.executors import _init_worker\n"
            "_init_worker(os.getppid() + 10**7, 1)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, env={**os.environ,
                                             "PYTHONPATH": f"{tmp_path}{os.pathsep}{_REPO}"})
    assert (result.returncode, result.stderr) == (1, "")


def _lines(path):
    return path.read_text().split() if path.exists() else []


def _sleep_and_report(path):
    import time

    with open(path, "a") as handle:
        handle.write(f"{os.getpid()}\n")
    time.sleep(120)


def test_workers_do_not_rerun_a_main_script(tmp_path):
    """Under AppTest (or `streamlit run`) this process's __main__ is the app's script; spawn
    would re-run it in every worker, where it fails. Workers start without it."""

    bad_main = tmp_path / "bad_main.py"
    bad_main.write_text("raise SystemExit('the main script ran in a worker')\n")
    script = f"""
import sys, types
main = types.ModuleType("__main__"); main.__file__ = {str(bad_main)!r}
sys.modules["__main__"] = main
from core.pipeline.executors import PoolExecutor, Task
pool = PoolExecutor(2)
print([o.value for o in pool.run([Task(1, "abs", abs, (-3,))])])
pool.close()
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, cwd=os.path.dirname(os.path.dirname(
                                os.path.abspath(__file__))))
    assert result.stdout.strip() == "[3]", result.stderr[-2000:]
    assert "main script ran" not in result.stderr


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_task_processes_keep_freed_memory_in_the_heap():
    # A 64 MiB tensor is beyond glibc's largest dynamic mmap threshold (32 MiB): by default it
    # is mapped for itself and unmapped when freed; once retain_freed_memory() is in force it
    # comes from the heap (mallinfo2's hblkhd counts the bytes in mapped blocks).
    code = textwrap.dedent("""
        import ctypes
        import torch
        from core.pipeline.executors import retain_freed_memory

        class MallInfo2(ctypes.Structure):
            _fields_ = [(name, ctypes.c_size_t) for name in "arena ordblks smblks hblks hblkhd "
                        "usmblks fsmblks uordblks fordblks keepcost".split()]

        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2

        def mapped_while_allocated():
            block = torch.empty(64 << 20, dtype=torch.uint8)
            mapped = libc.mallinfo2().hblkhd
            del block
            return mapped

        before = mapped_while_allocated()
        in_force = retain_freed_memory()
        print(before, in_force, mapped_while_allocated())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parent.parent).stdout.split()
    before, in_force, after = int(out[0]), out[1], int(out[2])
    assert before >= 64 << 20 and in_force == "True" and after < 64 << 20
