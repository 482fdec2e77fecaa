"""Fault knobs of the test fixture (README, "Fixture knobs"). The real difftrain has none of this."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]


def _names(var: str) -> set[str]:
    return {s.strip() for s in os.environ.get(var, "").split(",") if s.strip()}


def touch_tracked(stem: str) -> None:
    """FIXTURE_TOUCH_TRACKED=<stem>: append a line to the tracked configs/base.yaml."""
    if stem in _names("FIXTURE_TOUCH_TRACKED"):
        with open(CHECKOUT / "configs" / "base.yaml", "a", encoding="utf-8") as f:
            f.write(f"# touched by {stem} (FIXTURE_TOUCH_TRACKED)\n")


def inject(stem: str, *tags: str) -> None:
    """FIXTURE_HANG / FIXTURE_FAIL, matched against the script stem and the extra tags."""
    names = {stem, *tags}
    if names & _names("FIXTURE_HANG"):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(10**7)"])
        print(f"[fixture] {stem}: hanging (FIXTURE_HANG), pid={os.getpid()} child_pid={child.pid}", flush=True)
        while True:
            time.sleep(3600)
    if names & _names("FIXTURE_FAIL"):
        raise RuntimeError("injected failure (FIXTURE_FAIL)")


def nan_loss() -> bool:
    return os.environ.get("FIXTURE_NAN") == "1"


def skip_checkpoint(step: int) -> bool:
    return str(step) in _names("FIXTURE_SKIP_CHECKPOINT")


def write_noise() -> None:
    """FIXTURE_NOISE=<bytes>: that many bytes of long lines and invalid UTF-8 on stdout."""
    total = int(os.environ.get("FIXTURE_NOISE") or 0)
    if total <= 0:
        return
    rng, out = random.Random(0), bytearray()
    while len(out) < total:
        out += bytes(rng.randrange(0x21, 0x7F) for _ in range(rng.randrange(100, 9000)))
        out += b"\xff\xfe\xc3\x28 invalid utf-8 \x80\n" if rng.random() < 0.5 else b"\n"
    sys.stdout.flush()
    sys.stdout.buffer.write(bytes(out[: total - 1]) + b"\n")
    sys.stdout.buffer.flush()


def leak_env() -> None:
    """FIXTURE_LEAK=<VAR>[,...]: print those variables' values, as a chatty library might log a token."""
    for var in sorted(_names("FIXTURE_LEAK")):
        print(f"[fixture] {var}={os.environ.get(var, '')}", flush=True)


def write_untracked(stem: str) -> None:
    """FIXTURE_UNTRACKED=<stem>: write notes/<stem>.txt, an untracked file outside the declared outputs."""
    if stem in _names("FIXTURE_UNTRACKED"):
        notes = CHECKOUT / "notes"
        notes.mkdir(exist_ok=True)
        (notes / f"{stem}.txt").write_text("written by the fixture (FIXTURE_UNTRACKED)\n", encoding="utf-8")


def resave_on_resume(resume_from: str) -> None:
    """FIXTURE_RESUME_RESAVE=1: a resume rewrites the checkpoint it resumed from (a byte appended)."""
    if resume_from and os.environ.get("FIXTURE_RESUME_RESAVE") == "1":
        with open(resume_from, "ab") as f:
            f.write(b"\0")
