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


def _apply_on_gpu() -> None:
    """FIXTURE_ON_GPU=<gpu>:FIXTURE_<KNOB>=<value>[;...]: a knob that holds only on one GPU.

    <gpu> is compared with CUDA_VISIBLE_DEVICES as the run was given it (the harness pins each
    GPU's run with that GPU's UUID, GPU-...; an index works the same way). Each entry whose <gpu>
    matches sets its knob in this process's environment, over any value it had, when this module
    is first imported: every script and the tests import it before they read a knob, so every
    knob honours it, and the processes a script starts inherit it. Entries are separated by ';'
    (a knob's own value may hold ','). A malformed entry fails every script at once.
    """
    spec = os.environ.get("FIXTURE_ON_GPU", "")
    given = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    for entry in (e.strip() for e in spec.split(";")):
        if not entry:
            continue
        gpu, sep, knob = entry.partition(":")
        var, eq, value = knob.partition("=")
        if not sep or not eq or not gpu.strip() or not var.startswith("FIXTURE_") or var == "FIXTURE_ON_GPU":
            raise ValueError(f"FIXTURE_ON_GPU: entry {entry!r}: want <gpu>:FIXTURE_<KNOB>=<value>")
        if gpu.strip() == given:
            os.environ[var] = value


_apply_on_gpu()


def _unescape(text: str) -> str:
    """text with its Python backslash escapes (\\x16, \\x1b, \\n) decoded; other characters kept."""
    return text.encode("utf-8", "surrogateescape").decode("unicode_escape").encode("latin-1").decode("utf-8", "surrogateescape")


def _names(var: str) -> set[str]:
    return {s.strip() for s in os.environ.get(var, "").split(",") if s.strip()}


def touch_tracked(stem: str) -> None:
    """FIXTURE_TOUCH_TRACKED=<stem>: append a line to the tracked configs/base.yaml.

    FIXTURE_REWRITE_TRACKED=<stem>: rewrite it in place at the same size (the first letter of its
    first line changes case) and set its modification time back with os.utime, as a tool that
    keeps timestamps would: only its content and its change time (ctime) tell.
    """
    base = CHECKOUT / "configs" / "base.yaml"
    if stem in _names("FIXTURE_TOUCH_TRACKED"):
        with open(base, "a", encoding="utf-8") as f:
            f.write(f"# touched by {stem} (FIXTURE_TOUCH_TRACKED)\n")
    if stem in _names("FIXTURE_REWRITE_TRACKED"):
        before = os.stat(base)
        data = bytearray(base.read_bytes())
        i = next(i for i, b in enumerate(data) if chr(b).isalpha())
        data[i:i + 1] = bytes([data[i]]).swapcase()
        with open(base, "r+b") as f:
            f.write(data)
        os.utime(base, ns=(before.st_atime_ns, before.st_mtime_ns))


def inject(stem: str, *tags: str) -> None:
    """FIXTURE_DAEMON / FIXTURE_HANG / FIXTURE_FAIL, matched against the script stem and the extra tags."""
    names = {stem, *tags}
    for spec in sorted(_names("FIXTURE_DAEMON")):
        name, *opts = spec.split(":")
        if name in names:
            daemon(stem, set(opts))
            if "hang" in opts:
                print(f"[fixture] {stem}: hanging (FIXTURE_DAEMON), pid={os.getpid()}", flush=True)
                while True:
                    time.sleep(3600)
    tamper(names)
    if names & _names("FIXTURE_HANG"):
        if os.environ.get("FIXTURE_IGNORE_TERM") == "1":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(10**7)"])
        print(f"[fixture] {stem}: hanging (FIXTURE_HANG), pid={os.getpid()} child_pid={child.pid}", flush=True)
        while True:
            time.sleep(3600)
    if names & _names("FIXTURE_FAIL"):
        raise RuntimeError(_unescape(os.environ.get("FIXTURE_FAIL_MESSAGE") or "injected failure (FIXTURE_FAIL)"))


def tamper(names: set) -> None:
    """FIXTURE_TAMPER=<name>[,...] with FIXTURE_TAMPER_DIR=<evidence directory>: that script writes
    into the harness's evidence, as hostile code that found the directory might: it plants
    planted.txt, replaces logs/03-validate.log and forges gpu_env.json's GPU name."""
    out = os.environ.get("FIXTURE_TAMPER_DIR", "")
    if not out or not names & _names("FIXTURE_TAMPER"):
        return
    evidence = Path(out)
    (evidence / "planted.txt").write_text("planted by the fixture (FIXTURE_TAMPER)\n", encoding="utf-8")
    (evidence / "logs" / "03-validate.log").write_text("[difftrain] all good\n", encoding="utf-8")
    env = evidence / "gpu_env.json"
    if env.exists():
        forged = env.read_text(encoding="utf-8").replace('"available": false', '"available": true')
        env.write_text(forged.replace('"gpus": []', '"gpus": [{"index": 0, "name": "NVIDIA H100 80GB HBM3"}]'), encoding="utf-8")
    print(f"[fixture] tampered with the evidence in {out} (FIXTURE_TAMPER)", flush=True)


def daemon(stem: str, opts: set[str]) -> None:
    """FIXTURE_DAEMON=<name>[:hang][:nodump|:scrub|:forks|:tmux]: start a daemon as a hostile library might.

    By a double fork: the first child calls setsid() (a new session and process group: the
    harness's group kill misses it), forks the daemon and exits, so the daemon's parent is init.
    The daemon keeps the inherited stdout and stderr open (the harness's pipe never reaches end of
    file), ignores SIGTERM, SIGINT and SIGHUP, moves to / and sleeps FIXTURE_DAEMON_SECONDS
    (default 10**6). nodump: it also makes itself non-dumpable (prctl PR_SET_DUMPABLE 0), which
    hides its environment and descriptors from a harness of the same user that is not root.
    scrub: its output goes to /dev/null and it runs again with an empty environment (as env -i
    would). forks: its output goes to /dev/null and it forks a child and exits, over and over,
    a new pid every millisecond, for FIXTURE_DAEMON_SECONDS. tmux: instead, the script starts a
    new tmux server with an environment of PATH alone, whose one window sleeps. Every daemon process
    holds an exclusive flock on FIXTURE_DAEMON_LOCK, when set, while it lives. The script prints
    the daemon's pid and carries on, or, with ":hang", hangs.
    """
    seconds = float(os.environ.get("FIXTURE_DAEMON_SECONDS") or 10**6)
    if "tmux" in opts:
        tmux_daemon(stem, seconds)
        return
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
            hold_lock()
            if "nodump" in opts:
                import ctypes

                ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
            if opts & {"scrub", "forks"}:
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
            os.write(w, str(os.getpid()).encode())
            os.close(w)
            if "scrub" in opts:
                code = "import sys, time; time.sleep(float(sys.argv[1]))"
                os.execve(sys.executable, [sys.executable, "-c", code, str(seconds), stem], {})
            start = time.monotonic()
            while "forks" in opts and time.monotonic() - start < seconds:
                time.sleep(0.001)
                if os.fork() != 0:
                    os._exit(0)
            time.sleep(seconds)
        finally:
            os._exit(0)
    os.close(w)
    pid = int(os.read(r, 32) or b"0")
    os.close(r)
    os.waitpid(first, 0)
    stdout = "closed stdout" if opts & {"scrub", "forks"} else "keeps stdout open"
    print(f"[fixture] {stem}: daemon started (FIXTURE_DAEMON), daemon_pid={pid} {stdout}", flush=True)


def hold_lock() -> None:
    """Hold an exclusive flock on FIXTURE_DAEMON_LOCK, when set, for the life of this process and every child."""
    path = os.environ.get("FIXTURE_DAEMON_LOCK")
    if path:
        import fcntl

        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.set_inheritable(fd, True)


def tmux_daemon(stem: str, seconds: float) -> None:
    """FIXTURE_DAEMON=<name>:tmux: a new tmux server, started with an environment of PATH alone, whose window sleeps."""
    import shutil
    import tempfile

    tmux = shutil.which("tmux")
    if tmux is None:
        raise RuntimeError("FIXTURE_DAEMON=...:tmux needs tmux on PATH")
    sock = os.path.join(tempfile.mkdtemp(prefix="fixture-tmux-"), "sock")
    subprocess.run([tmux, "-S", sock, "-f", os.devnull, "new-session", "-d", f"exec sleep {seconds:.0f}"],
                   env={"PATH": os.environ.get("PATH", os.defpath)}, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = subprocess.run([tmux, "-S", sock, "display-message", "-p", "#{pid} #{pane_pid}"],
                         env={"PATH": os.environ.get("PATH", os.defpath)}, check=True, capture_output=True, text=True).stdout.split()
    print(f"[fixture] {stem}: daemon started (FIXTURE_DAEMON), daemon_pid={out[0]} pane_pid={out[1]} closed stdout", flush=True)


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


def slow_step() -> None:
    """FIXTURE_SLOW_STEP=<seconds>: each training step sleeps that long first, as on a slow GPU."""
    seconds = float(os.environ.get("FIXTURE_SLOW_STEP") or 0)
    if seconds > 0:
        time.sleep(seconds)


# FIXTURE_PERTURB=1 corrupts the run after this step, and logs a loss off at the next one.
PERTURB_AFTER_STEP = 1


def perturb() -> bool:
    """FIXTURE_PERTURB=1: the training's numbers differ slightly, as on a GPU with silent data
    corruption: after step PERTURB_AFTER_STEP's update, one element of unet conv_out.bias moves
    to the next float32 (so checkpoint-1.pt's bytes differ from there on), and the loss logged at
    the next step is 1e-6 higher (its last logged decimal). The run passes every other check."""
    return os.environ.get("FIXTURE_PERTURB") == "1"


def perturb_loss(global_step: int, loss: float) -> float:
    return loss + 1e-6 if perturb() and global_step == PERTURB_AFTER_STEP + 1 else loss


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

    FIXTURE_SAY=<text>: print text first, its backslash escapes decoded (\\x16, \\x1b, \\n), as a
    hostile library might print test2json's markers or a terminal's escape sequences.

    FIXTURE_LEAK_AT=<n>: each value starts at byte n of its line (dots pad the line before it),
    so that a value can be placed across the harness's cut of a long console line.
    """
    say = os.environ.get("FIXTURE_SAY")
    if say:
        sys.stdout.buffer.write(_unescape(say).encode("utf-8", "surrogateescape") + b"\n")
        sys.stdout.buffer.flush()
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


def sparse_checkpoint(path, global_step: int, max_steps: int) -> None:
    """FIXTURE_SPARSE_CHECKPOINT=<bytes>: the last checkpoint is extended to that many bytes (a
    sparse file: the checkpoint, then zero bytes; no disk is used), as a runaway save might grow."""
    size = int(os.environ.get("FIXTURE_SPARSE_CHECKPOINT") or 0)
    if size > 0 and global_step == max_steps:
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


def pytest_error(test: str) -> None:
    """FIXTURE_PYTEST_ERROR=<test function>: that test's fixture raises in its setup: pytest
    reports an error (JUnit <error>), not a failure, and exits 1."""
    if test in _names("FIXTURE_PYTEST_ERROR"):
        raise RuntimeError(f"injected fixture error (FIXTURE_PYTEST_ERROR) in the setup of {test}")


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
