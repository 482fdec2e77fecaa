"""Fault knobs of the test fixture (README, "Fixture knobs"). The real difftrain has none of this."""

from __future__ import annotations

import os
import random
import signal
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
    """FIXTURE_DAEMON / FIXTURE_HANG / FIXTURE_FAIL, matched against the script stem and the extra tags."""
    names = {stem, *tags}
    for spec in sorted(_names("FIXTURE_DAEMON")):
        name, _, then = spec.partition(":")
        if name in names:
            daemon(stem)
            if then == "hang":
                print(f"[fixture] {stem}: hanging (FIXTURE_DAEMON), pid={os.getpid()}", flush=True)
                while True:
                    time.sleep(3600)
    if names & _names("FIXTURE_HANG"):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(10**7)"])
        print(f"[fixture] {stem}: hanging (FIXTURE_HANG), pid={os.getpid()} child_pid={child.pid}", flush=True)
        while True:
            time.sleep(3600)
    if names & _names("FIXTURE_FAIL"):
        raise RuntimeError("injected failure (FIXTURE_FAIL)")


def daemon(stem: str) -> None:
    """FIXTURE_DAEMON=<name>[:hang]: start a daemon as a hostile library might, by a double fork.

    The first child calls setsid() (a new session and process group: the harness's group kill
    misses it), forks the daemon and exits, so the daemon's parent is init. The daemon keeps the
    inherited stdout and stderr open (the harness's pipe never reaches end of file), ignores
    SIGTERM, SIGINT and SIGHUP, moves to / and sleeps FIXTURE_DAEMON_SECONDS (default 10**6).
    The script prints the daemon's pid and carries on, or, with ":hang", hangs.
    """
    seconds = float(os.environ.get("FIXTURE_DAEMON_SECONDS") or 10**6)
    sys.stdout.flush()
    sys.stderr.flush()
    r, w = os.pipe()
    first = os.fork()
    if first == 0:
        try:
            os.close(r)
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)
            os.chdir("/")
            os.write(w, str(os.getpid()).encode())
            os.close(w)
            time.sleep(seconds)
        finally:
            os._exit(0)
    os.close(w)
    pid = int(os.read(r, 32) or b"0")
    os.close(r)
    os.waitpid(first, 0)
    print(f"[fixture] {stem}: daemon started (FIXTURE_DAEMON), daemon_pid={pid} keeps stdout open", flush=True)


def script_stem() -> str:
    return Path(sys.argv[0]).stem


def no_repro() -> bool:
    """FIXTURE_NO_REPRO=<stem>: that script writes no repro artifacts (and says nothing of it)."""
    return script_stem() in _names("FIXTURE_NO_REPRO")


def crash() -> None:
    """FIXTURE_CRASH=<kind>: the training run dies after logging its precision, as on a sick GPU.

    oom: torch.cuda.OutOfMemoryError; cuda: an illegal memory access; nccl: an NCCL error;
    sigkill: the process is killed by SIGKILL, as by the kernel's OOM killer.
    """
    kind = os.environ.get("FIXTURE_CRASH", "")
    if kind == "sigkill":
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "oom":
        raise OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 23.65 GiB total capacity; "
                               "23.10 GiB already allocated; 3.19 MiB free; 23.31 GiB reserved in total by PyTorch)")
    if kind == "cuda":
        raise RuntimeError("CUDA error: an illegal memory access was encountered\nCUDA kernel errors might be "
                           "asynchronously reported at some other API call, so the stacktrace below might be incorrect.")
    if kind == "nccl":
        raise RuntimeError("NCCL error in: ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:1269, "
                           "unhandled system error, NCCL version 2.14.3")


class OutOfMemoryError(RuntimeError):
    """As torch.cuda.OutOfMemoryError prints itself."""


OutOfMemoryError.__module__ = "torch.cuda"


def bad_loss(loss: float) -> float:
    """FIXTURE_NAN=1 / FIXTURE_INF=1: every step's loss is NaN / +Inf (training still completes)."""
    if os.environ.get("FIXTURE_NAN") == "1":
        return float("nan")
    if os.environ.get("FIXTURE_INF") == "1":
        return float("inf")
    return loss


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
    """FIXTURE_LEAK=<VAR>[,...]: print those variables' values, as a chatty library might log a token.

    FIXTURE_LEAK_AT=<n>: each value starts at byte n of its line (dots pad the line before it),
    so that a value can be placed across the harness's cut of a long console line.
    """
    at = int(os.environ.get("FIXTURE_LEAK_AT") or 0)
    for var in sorted(_names("FIXTURE_LEAK")):
        head = f"[fixture] {var}="
        print(head + "." * max(0, at - len(head)) + os.environ.get(var, ""), flush=True)


def leak_forms() -> None:
    """FIXTURE_LEAK_FORMS=<VAR>[,...]: print those variables' values in the forms logs carry them
    in: URL-encoded, in an HTTP Basic header, in two parts on two lines, cut after 20 characters
    and followed by "...", and inside JSON with its first character \\u-escaped."""
    import base64
    import json
    import urllib.parse

    for var in sorted(_names("FIXTURE_LEAK_FORMS")):
        value = os.environ.get(var, "")
        half = len(value) // 2
        basic = base64.b64encode(f"smoke:{value}".encode()).decode()
        escaped = json.dumps(value)[1:-1]
        if escaped:
            escaped = f"\\u{ord(escaped[0]):04x}" + escaped[1:]
        print(f"[fixture] {var} url-encoded: {urllib.parse.quote(value, safe='')}", flush=True)
        print(f"[fixture] {var} header: Authorization: Basic {basic}", flush=True)
        print(f"[fixture] {var} in two parts: {value[:half]}\n{value[half:]}", flush=True)
        print(f"[fixture] {var} cut: {value[:20]}...", flush=True)
        print(f'[fixture] {var} as JSON: {{"token": "{escaped}"}}', flush=True)


def commit(stem: str) -> None:
    """FIXTURE_COMMIT=<stem>: that script commits to the checkout (an empty commit): HEAD moves, the branch does not."""
    if stem in _names("FIXTURE_COMMIT"):
        subprocess.run(["git", "-c", "user.name=fixture", "-c", "user.email=fixture@localhost", "commit", "-q",
                        "--allow-empty", "-m", f"committed by {stem} (FIXTURE_COMMIT)"], cwd=CHECKOUT, check=True)


def leaked_values() -> dict:
    """FIXTURE_LEAK_ARTIFACTS=<VAR>[,...]: those variables, which the repro artifacts then carry."""
    return {var: os.environ.get(var, "") for var in sorted(_names("FIXTURE_LEAK_ARTIFACTS"))}


# The mirror URL FIXTURE_LEAK_CONFIG puts in the config: 69 bytes, so that a value longer than
# 10 bytes after it straddles byte 80 of the quoted string, where a check's error clips it.
LEAK_CONFIG_URL = "https://hf-mirror.internal.example/tiny-sd-pipe/resolve?access_token="


def leak_config(cfg) -> None:
    """FIXTURE_LEAK_CONFIG=<VAR>: model.pretrained_model_name_or_path becomes a mirror URL that
    carries the variable's value, as a config that embeds a hub token in a URL. The source config
    does not say so, so the harness's check of config.resolved.yaml fails and quotes the value."""
    var = os.environ.get("FIXTURE_LEAK_CONFIG", "").strip()
    if var:
        cfg.model.pretrained_model_name_or_path = LEAK_CONFIG_URL + os.environ.get(var, "")


def leak_checkpoint() -> dict:
    """FIXTURE_LEAK_CHECKPOINT=<VAR>[,...]: the checkpoints' payload gets a side field "args" with
    those variables' values (lower-cased names), as a script that saves its argparse namespace
    with a --hub-token would. "args" is not one of the keys the harness checks."""
    names = sorted(_names("FIXTURE_LEAK_CHECKPOINT"))
    return {"args": {var.lower(): os.environ.get(var, "") for var in names}} if names else {}


def huge_env_json(path) -> None:
    """FIXTURE_HUGE_ENV_JSON=<bytes>: the training run's env.json is extended to that many bytes
    (a sparse file: the JSON, then zero bytes), as a runaway environment report might grow."""
    size = int(os.environ.get("FIXTURE_HUGE_ENV_JSON") or 0)
    if size > 0 and script_stem() == "train_text_to_image":
        with open(path, "r+b") as f:
            f.truncate(size)


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


def pytest_collect_nothing() -> bool:
    """FIXTURE_PYTEST_EMPTY=1: the tests' conftest deselects every test (pytest exits 5)."""
    return os.environ.get("FIXTURE_PYTEST_EMPTY") == "1"


def pytest_fail(test: str) -> None:
    """FIXTURE_PYTEST_FAIL=<test function>: that test fails, as an assertion would.

    FIXTURE_PYTEST_FAIL_SHOWS=<VAR>: the failing test prints that variable's value and its
    assertion shows it, as `assert token.startswith("hf_")` on a bad token would."""
    if test not in _names("FIXTURE_PYTEST_FAIL"):
        return
    var = os.environ.get("FIXTURE_PYTEST_FAIL_SHOWS", "").strip()
    if var:
        token = os.environ.get(var, "")
        print(f"checking the token {token}", flush=True)
        raise AssertionError(f"assert {token!r}.startswith('nope_')")
    raise AssertionError(f"assert 'FIXTURE_PYTEST_FAIL' not in os.environ ({test} made to fail)")
