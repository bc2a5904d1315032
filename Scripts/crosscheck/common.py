"""Helpers shared by the check_*.py cross-check scripts."""
import argparse, importlib, subprocess, sys

def args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lmkit", required=True)
    ap.add_argument("--workdir", required=True)
    return ap.parse_args()

def ensure(*packages):
    """Import each (module, pip name) pair, installing with pip when missing; exit 77 (skipped) if that fails."""
    for module, pip_name in packages:
        try:
            importlib.import_module(module)
        except ImportError:
            r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", pip_name])
            if r.returncode != 0:
                print(f"cannot install {pip_name}; skipping"); sys.exit(77)
            importlib.invalidate_caches()
            importlib.import_module(module)

def lmkit(binary, *argv, input=None):
    r = subprocess.run([binary, *argv], capture_output=True, text=True, input=input)
    if r.returncode != 0:
        sys.exit(f"lmkit {' '.join(argv)} failed ({r.returncode}):\n{r.stderr}")
    return r.stdout
