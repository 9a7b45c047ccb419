#!/usr/bin/env python3
"""Run every benchmark script in this folder (benchmarks/*_bench.py) and print its figures."""

import subprocess
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
failed = 0
for script in sorted(here.glob("*_bench.py")):
    print(f"== {script.name}", flush=True)
    failed |= subprocess.call([sys.executable, str(script), *sys.argv[1:]]) != 0
sys.exit(1 if failed else 0)
