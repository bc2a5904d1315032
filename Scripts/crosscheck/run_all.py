#!/usr/bin/env python3
"""Cross-checks against the Python reference libraries, run by `make test` after `swift test`.

Each `check_*.py` beside this file is run as `python3 check_x.py --lmkit PATH --workdir DIR`; it writes files with
the `lmkit` CLI and reads them with the reference library (or the other way round) and exits non-zero on a mismatch.
A check that needs packages installs them with pip itself (`ensure(...)` below); if pip cannot reach an index the
check is reported as skipped, never as passed.
"""
import argparse, glob, os, subprocess, sys, tempfile

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--swift", default="swift")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    bin_path = subprocess.run([args.swift, "build", "--show-bin-path"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
    lmkit = os.path.join(bin_path, "lmkit")
    if not os.path.exists(lmkit):
        subprocess.run([args.swift, "build", "--product", "lmkit"], cwd=root, check=True)
    checks = sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "check_*.py")))
    failed, skipped = [], []
    for check in checks:
        name = os.path.basename(check)
        with tempfile.TemporaryDirectory() as work:
            r = subprocess.run([sys.executable, check, "--lmkit", lmkit, "--workdir", work], cwd=root)
        if r.returncode == 77:
            skipped.append(name); print(f"==> {name}: SKIPPED (reference packages unavailable)")
        elif r.returncode != 0:
            failed.append(name); print(f"==> {name}: FAILED")
        else:
            print(f"==> {name}: ok")
    print(f"==> python cross-checks: {len(checks) - len(failed) - len(skipped)} ok, {len(skipped)} skipped, {len(failed)} failed")
    sys.exit(1 if failed else 0)

if __name__ == "__main__":
    main()
