"""Stand-in for the bootstrap inside the manager: appends progress events and log lines.

usage: writer.py PROGRESS LOG SCENARIO_JSON
Scenario items: {"event": [step, state, detail]}, {"log": text}, {"raw": text-without-newline},
{"sleep": seconds}, {"wait": path} (until the file exists).
"""

import json
import os
import sys
import time
from datetime import UTC, datetime

progress_path, log_path, scenario = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
os.makedirs(os.path.dirname(progress_path), exist_ok=True)
with open(progress_path, "a", buffering=1) as progress, open(log_path, "a", buffering=1) as log:
    for item in scenario:
        if "event" in item:
            step, state, detail = item["event"]
            ts = datetime.now(UTC).isoformat(timespec="microseconds")
            line = {"v": 1, "ts": ts, "step": step, "state": state, "detail": detail}
            progress.write(json.dumps(line) + "\n")
        elif "log" in item:
            log.write(item["log"] + "\n")
        elif "raw" in item:
            log.write(item["raw"])
            log.flush()
        elif "sleep" in item:
            time.sleep(item["sleep"])
        elif "wait" in item:
            while not os.path.exists(item["wait"]):
                time.sleep(0.01)
