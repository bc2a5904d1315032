"""What the PyTorch reference scripts of `lmkit bench …` share: torch (installed with pip when missing, so a fresh
machine's first bench run works) and one timing loop, so every reference reports the same statistics."""
import subprocess, sys, time


def import_torch():
    """torch, pip-installing it first if it is missing."""
    try:
        import torch
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "torch"], check=True)
        import torch
    return torch


def timed(fn, runs, warmup=1, cpu=False):
    """(median, minimum) wall seconds of `runs` calls of fn after `warmup` untimed ones; with cpu=True,
    (median wall, median process CPU seconds) instead, as Bench.medianWallAndCPU on the Swift side."""
    for _ in range(warmup):
        fn()
    walls, cpus = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        cpus.append(time.process_time() - c0); walls.append(time.perf_counter() - t0)
    walls.sort(); cpus.sort()
    return (walls[len(walls) // 2], cpus[len(cpus) // 2]) if cpu else (walls[len(walls) // 2], walls[0])
