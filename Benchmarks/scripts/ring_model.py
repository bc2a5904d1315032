#!/usr/bin/env python3
"""Ring-allreduce cost model for data-parallel training (Docs/Distributed.md).

T_allreduce(N) = k · 2(N−1) · α + 2(N−1)/N · M / β        (Patarasuk & Yuan 2009; nccl-tests' busbw factor)
  M bytes of gradient in k buckets, α latency per message step, β link bandwidth in bytes/s.
Exposed communication per step: without overlap all of T; with DDP's overlap, what backward (≈ 2/3 of the compute
time c) cannot hide: max(T − 2c/3, T/k) (the last bucket always waits). Efficiency E = c / (c + exposed).

usage: ring_model.py --compute-s 0.9 --bytes 42.6e6 [--bucket-mb 25] [--latency-us 50] [--nodes 2,8,64]
"""
import argparse
import math


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--compute-s", type=float, required=True, help="seconds of forward+backward per step on one machine")
    p.add_argument("--bytes", type=float, required=True, help="gradient bytes averaged per step")
    p.add_argument("--bucket-mb", type=float, default=25.0)
    p.add_argument("--latency-us", type=float, default=50.0)
    p.add_argument("--links", default="1,10", help="link speeds in Gbit/s")
    p.add_argument("--nodes", default="2,8,64")
    a = p.parse_args()
    if a.compute_s <= 0 or a.bytes <= 0 or a.bucket_mb <= 0:
        p.error("--compute-s, --bytes and --bucket-mb must be positive")
    k = max(1, math.ceil(a.bytes / (a.bucket_mb * 1e6)))
    c = a.compute_s
    print(f"compute {c * 1e3:.0f} ms/step, gradient {a.bytes / 1e6:.1f} MB in {k} buckets, latency {a.latency_us:.0f} us")
    print("| link | N | allreduce ms | E without overlap | E with overlap |")
    print("|---|---|---|---|---|")
    for gbit in [float(x) for x in a.links.split(",")]:
        beta = gbit * 1e9 / 8
        for n in [int(x) for x in a.nodes.split(",")]:
            t = k * 2 * (n - 1) * a.latency_us * 1e-6 + 2 * (n - 1) / n * a.bytes / beta
            exposed = max(t - 2 * c / 3, t / k)
            print(f"| {gbit:g} Gbit/s | {n} | {t * 1e3:.1f} | {c / (c + t):.2f} | {c / (c + exposed):.2f} |")


if __name__ == "__main__":
    main()
