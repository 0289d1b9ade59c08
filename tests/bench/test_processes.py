"""The suite's CPU accounting of a server: every process of its tree, exited ones included."""

from __future__ import annotations

import subprocess
import sys

from bench.processes import cpu_seconds, tree_cpu_seconds

# A parent that waits for a child burning 0.3 s of CPU (reaped before the reading), then starts
# another from a second thread that burns 0.3 s and stays alive; the parent itself stays idle.
TREE = """
import subprocess, sys, threading
BURN = (
    "import sys, time\\n"
    "while time.process_time() < 0.3: pass\\n"
    "print('burnt', flush=True)\\n"
    "sys.stdin.read()"
)
subprocess.run([sys.executable, "-c", BURN], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
done = threading.Event()
def start():  # the thread lives on: its child stays its own, not the main thread's
    child = subprocess.Popen(
        [sys.executable, "-c", BURN], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    child.stdout.readline()
    print("ready", flush=True)
    done.wait()
    child.stdin.close()
    child.wait()
thread = threading.Thread(target=start)
thread.start()
sys.stdin.read()
done.set()
thread.join()
"""


def test_tree_cpu_counts_reaped_children_and_children_of_other_threads() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", TREE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        own = cpu_seconds(process.pid)
        with_reaped = cpu_seconds(process.pid, reaped_children=True)
        tree = tree_cpu_seconds(process.pid)
    finally:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.close()
        process.wait(timeout=30)
        process.stdout.close()
    # Each child burnt at least 0.3 s of CPU, interpreter start-up on top; clock ticks are 10 ms.
    assert with_reaped >= own + 0.29
    assert tree >= with_reaped + 0.29


def test_tree_cpu_of_a_process_that_is_gone_is_zero() -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    assert tree_cpu_seconds(process.pid) == 0.0
