#!/usr/bin/env python3
"""Writes the broken-input corpus under testdata/bad/ (all kinds but plan/, which is written by hand).

Run from the module root:  python3 testdata/bad/gen_bad.py

Each case is one defect of one input; the comment beside it says which. The tests that walk the
corpus (artifacts/bad_test.go, checklist/bad_test.go, gpuenv/bad_test.go) keep the error each case
gets in a golden file. Standard library only; the checkpoints copied from
artifacts/testdata/input/checkpoints/broken/ were written by torch (see its README).
"""

import hashlib
import io
import json
import os
import shutil
import zipfile

ROOT = "testdata/bad"
INPUT = "artifacts/testdata/input"
# The workspace the manifest cases were "recorded" in: absolute, and never on a real machine.
WS = "/nonexistent/ws"

written = {}


def write(rel, data):
    path = os.path.join(ROOT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(path, "wb") as f:
        f.write(data)
    kind = rel.split("/")[0]
    written[kind] = written.get(kind, 0) + 1


def read(path):
    with open(path, "rb") as f:
        return f.read()


def dumps(v):
    """As difftrain writes its JSON files: sorted keys, indent 2."""
    return json.dumps(v, indent=2, sort_keys=True) + "\n"


# ---------------------------------------------------------------- config/
# Each *.yaml is a config.resolved.yaml checked against the fixture's source config, except
# source-*.yaml, which are source configs checked against the recorded (good) resolved one.

resolved = read(INPUT + "/run/config.resolved.yaml").decode()
source = read(INPUT + "/run/smoke_text2image.yaml").decode()


def config(name, text):
    write("config/" + name, text)


config("empty.yaml", "")
config("comments-only.yaml", "# train:\n#   seed: 123\n")
config("not-yaml.yaml", "train: {seed: 123, precision: fp32\ndata: [\n")
config("top-level-list.yaml", "- train\n- data\n- model\n- scheduler\n- loss\n")
config("top-level-scalar.yaml", "smoke_text2image\n")
config("unknown-top-key.yaml", resolved + "optimizer:\n  name: adamw\n")
config("missing-section.yaml", resolved.split("loss:\n")[0])
config("section-not-mapping.yaml", resolved.replace(
    "data:\n  data_root: data/smoke_text2image\n  image_size: 64\n  batch_size: 1\n  num_workers: 0\n"
    "  image_column: file_name\n  caption_column: text\n", "data: [data/smoke_text2image, 64]\n"))
config("null-section.yaml", resolved.replace(
    "scheduler:\n  num_train_timesteps: 1000\n  beta_schedule: scaled_linear\n  prediction_type: epsilon\n",
    "scheduler:\n"))
config("wrong-type.yaml", resolved.replace("max_steps: 2", "max_steps: two"))
config("value-differs.yaml", resolved.replace("seed: 123", "seed: 124"))
config("missing-key.yaml", resolved.replace("  batch_size: 1\n", ""))
config("precision-differs.yaml", resolved.replace("precision: fp32", "precision: fp16"))
config("duplicate-key.yaml", resolved + "train:\n  seed: 7\n")
config("tab-indent.yaml", resolved.replace("  seed: 123", "\tseed: 123"))
config("binary.yaml", b"train:\n  seed: \x00\x01\x02\x89PNG\r\n\x1a\n")
config("alias-bomb.yaml", "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    "%s: &%s [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n" % ((chr(ord("b") + i),) * 2 + (chr(ord("a") + i),) * 9)
    for i in range(8)) + "train: *i\n")
config("source-not-yaml.yaml", "train:\n  seed: 123\n   precision: fp32\n")
config("source-empty.yaml", "")
config("source-list.yaml", "- train: {seed: 123}\n")
config("source-typo-key.yaml", source.replace("max_steps: 2", "max_stepz: 2"))
config("source-unknown-section.yaml", source + "optimizer:\n  name: adamw\n")

# ---------------------------------------------------------------- envjson/
# Each *.json is an env.json, read with artifacts.ReadEnvJSON.

env_gpu = json.loads(read(INPUT + "/run/env_gpu.json"))


def envjson(name, edit=None, text=None):
    if text is None:
        e = json.loads(json.dumps(env_gpu))
        edit(e)
        text = dumps(e)
    write("envjson/" + name, text)


envjson("empty.json", text="")
envjson("truncated.json", text=dumps(env_gpu)[:200])
envjson("python-repr.json", text=repr({"python": "3.11.2", "cuda_available": True}) + "\n")
envjson("nan.json", text=dumps(env_gpu).replace("25393692672", "NaN"))
envjson("bom.json", text="\ufeff" + dumps(env_gpu))
envjson("trailing-data.json", text=dumps(env_gpu) + "{}\n")
envjson("top-level-list.json", text="[" + dumps(env_gpu) + "]\n")
envjson("missing-torch-version.json", lambda e: e.pop("torch_version"))
envjson("cuda-available-string.json", lambda e: e.update(cuda_available="true"))
envjson("cuda-version-number.json", lambda e: e.update(cuda_version=11.8))
envjson("cudnn-version-string.json", lambda e: e.update(cudnn_version="8700"))
envjson("device-count-float.json", lambda e: e.update(device_count=1.5))
envjson("device-count-mismatch.json", lambda e: e.update(device_count=2))
envjson("devices-not-list.json", lambda e: e.update(devices=e["devices"][0]))
envjson("device-not-object.json", lambda e: e.update(devices=["NVIDIA GeForce RTX 4090"]))
envjson("device-missing-memory.json", lambda e: e["devices"][0].pop("total_memory_bytes"))
envjson("device-name-null.json", lambda e: e["devices"][0].update(name=None))
envjson("argv-number.json", lambda e: e["argv"].__setitem__(2, 3))
envjson("devices-without-cuda.json", lambda e: e.update(cuda_available=False))

# ---------------------------------------------------------------- manifest/
# Each <case>/ is an output directory: run_manifest.json with env.json and config.resolved.yaml
# beside it, recorded in WS. smoke_text2image.yaml, when there, is the source config it is checked
# against; without it the manifest's config.source.path is read.

manifest_text = read(INPUT + "/run/run_manifest.json").decode().replace("@WORKSPACE@", WS)
env_text = read(INPUT + "/run/env.json").decode()
good_files = {
    "env.json": env_text,
    "config.resolved.yaml": resolved,
    "smoke_text2image.yaml": source,
}


def manifest(case, edit=None, text=None, files=None, drop=()):
    if text is None:
        m = json.loads(manifest_text)
        if edit:
            edit(m)
        text = dumps(m)
    write("manifest/%s/run_manifest.json" % case, text)
    fs = dict(good_files)
    fs.update(files or {})
    for name, content in fs.items():
        if name not in drop:
            write("manifest/%s/%s" % (case, name), content)


def at(m, *keys):
    for k in keys:
        m = m[k]
    return m


manifest("empty", text="")
manifest("truncated", text=manifest_text[:700])
manifest("trailing-data", text=manifest_text + "\n}\n")
manifest("top-level-list", text="[]\n")
manifest("schema-version-2", lambda m: m.update(schema_version=2))
manifest("schema-version-string", lambda m: m.update(schema_version="1"))
manifest("paths-missing", lambda m: m.pop("paths"))
manifest("paths-not-object", lambda m: m.update(paths=WS + "/difftrain/_tmp_run"))
manifest("path-empty", lambda m: at(m, "paths").update(env_json=""))
manifest("path-relative", lambda m: at(m, "paths").update(output_dir="difftrain/_tmp_run"))
manifest("path-outside-output", lambda m: at(m, "paths").update(env_json="/tmp/env.json"))
manifest("seed-float", lambda m: at(m, "repro").update(seed=1.5))
manifest("deterministic-string", lambda m: at(m, "repro").update(deterministic="true"))
manifest("source-sha-not-hex", lambda m: at(m, "config", "source").update(sha256="xyz"))
manifest("source-sha-differs", files={"smoke_text2image.yaml": source.replace("max_steps: 2", "max_steps: 3")})
manifest("resolved-sha-differs", files={"config.resolved.yaml": resolved + "# edited after the run\n"})
manifest("seed-differs", lambda m: at(m, "repro").update(seed=124))
manifest("resolved-differs", lambda m: at(m, "config", "resolved", "train").update(max_steps=3))
manifest("resolved-extra-key", lambda m: at(m, "config", "resolved", "train").update(ema_decay=0.999))
manifest("env-differs", lambda m: at(m, "env").update(cuda_available=True))
manifest("no-env-json", drop=("env.json",))
manifest("env-json-not-json", files={"env.json": "{'python': '3.11.2'}\n"})
manifest("resolved-not-yaml", files={"config.resolved.yaml": "train: [\n"})
manifest("no-resolved-yaml", drop=("config.resolved.yaml",))
manifest("source-missing", drop=("smoke_text2image.yaml",))
manifest("source-relative", lambda m: (at(m, "config", "source").update(path="configs/smoke_text2image.yaml"),
                                       at(m, "paths").update(config_path="difftrain/configs/smoke_text2image.yaml")),
         drop=("smoke_text2image.yaml",))
manifest("nested-too-deep", text='{"schema_version": 1, "x": ' + "[" * 20000 + "]" * 20000 + "}\n")

# ---------------------------------------------------------------- checkpoint/
# Each *.pt is checkpoint 1 of an fp32 run, checked with artifacts.CheckCheckpoint against the
# recorded resolved config. The first ones are copies of torch-written broken checkpoints.

for case in ["truncated", "legacy", "notdict", "badpickle", "nodatapkl", "twotops", "shortdata",
             "steptype", "wrongstep", "wrongprecision", "fp32scaler", "configmismatch"]:
    write("checkpoint/%s.pt" % case, read(INPUT + "/checkpoints/broken/%s/checkpoint-1.pt" % case))


def zipped(entries, compression=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0))
            info.compress_type = compression
            z.writestr(info, data)
    return buf.getvalue()


good_pt = read(INPUT + "/checkpoints/good/fp32/checkpoint-1.pt")
with zipfile.ZipFile(io.BytesIO(good_pt)) as z:
    good_pkl = z.read("checkpoint-1/data.pkl")

write("checkpoint/empty.pt", b"")
write("checkpoint/text.pt", "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize 12345\n" % ("0" * 64))
write("checkpoint/empty-zip.pt", zipped([]))
write("checkpoint/flat-entries.pt", zipped([("data.pkl", good_pkl), ("version", b"3\n")]))
write("checkpoint/pickle-calls-os-system.pt",
      zipped([("checkpoint-1/data.pkl", read(INPUT + "/pickles/os_system.pkl")), ("checkpoint-1/version", b"3\n")]))
write("checkpoint/pickle-over-limit.pt",
      zipped([("checkpoint-1/data.pkl", b"\x80\x02" + b"\x00" * (65 << 20))], zipfile.ZIP_DEFLATED))
crc = bytearray(zipped([("checkpoint-1/data.pkl", good_pkl), ("checkpoint-1/version", b"3\n")]))
i = crc.index(b"\x80\x02", 30)  # data.pkl's first bytes, after its local header
crc[i + 10] ^= 0xFF
write("checkpoint/crc-mismatch.pt", bytes(crc))

# ---------------------------------------------------------------- junit/
# Each *.xml is the junit.xml of an evidence directory whose run.json is a recorded one
# (checklist/testdata/runs/pass/run.json: the fixture's plan, sections 00-08). A testcase of a
# section carries the properties the suite writes (evidence.Section.Properties), sorted by name
# as gotestsum writes them; each case breaks one.

HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n\t<testsuite name="github.com/difftrain/gpusmoke/smoke">\n'
TAIL = "\t</testsuite>\n</testsuites>\n"

# The plan's sections by test name, as in the fixture's plan and the runbook.
PLAN = {"Test00Preflight": ("00", "preflight"), "Test01Install": ("01", "install"), "Test02Dataset": ("02", "dataset"),
        "Test03Validate": ("03", "validate"), "Test04Train": ("04", "train"), "Test05Artifacts": ("05", "artifacts"),
        "Test06Resume": ("06", "resume"), "Test07AMPFP16": ("07", "amp-fp16"), "Test08AMPBF16": ("08", "amp-bf16")}


def prop(name, value):
    return '<property name="%s" value="%s"></property>' % (name, value)


def case(name, props=None, section=None, status=""):
    """A testcase as gotestsum writes it. props override (None drops) the section's own
    properties: section, name, result PASS, duration, warnings and nan_lines. section names the
    plan section of a test that is not in PLAN; a raw props string is used as it is."""
    if isinstance(props, str):
        body = props
    else:
        number, sname = section or PLAN[name]
        p = {"section": number, "name": sname, "result": "PASS", "duration": "1.0", "warnings": "0", "nan_lines": "0"}
        for k, v in (props or {}).items():
            if v is None:
                p.pop(k, None)
            else:
                p[k] = v
        body = "".join(prop(k, p[k]) for k in sorted(p))
    return '\t\t<testcase classname="github.com/difftrain/gpusmoke/smoke" name="%s" time="1.0"><properties>%s</properties>%s</testcase>\n' % (
        name, body, status)


def junit(name, body=None, text=None):
    write("junit/" + name, text if text is not None else HEAD + body + TAIL)


FAILED = '<failure message="Failed" type="">04-train: exit code 1</failure>'
SKIPPED = '<skipped message="torch sees no CUDA"></skipped>'

# An empty junit.xml (zero bytes: gotestsum could not write it) is not refused: the run renders
# from run.json (view.Load); one that holds only white space is.
junit("blank.xml", text="\n  \n")
junit("json.xml", text='{"testsuites": []}\n')
junit("truncated.xml", text=(HEAD + case("Test00Preflight") + case("Test01Install"))[:180])
junit("wrong-root.xml", text="<html><body>502 Bad Gateway</body></html>\n")
junit("latin1.xml", text='<?xml version="1.0" encoding="ISO-8859-1"?>\n<testsuites></testsuites>\n')
junit("undefined-entity.xml", case("Test00Preflight", {"notes": "GPU&nbsp;0"}))
junit("nul-byte.xml", case("Test00Preflight", {"notes": "GPU\x000"}))
junit("testcase-no-name.xml", case("Test00Preflight") + '\t\t<testcase time="1.0"></testcase>\n')
junit("result-unknown.xml", case("Test04Train", {"result": "OK"}))
junit("section-not-a-number.xml", case("Test04Train", {"section": "four"}))
junit("section-twice.xml", case("Test04Train") + case("Test04TrainAgain", section=("04", "train")))
# A section the plan in run.json does not have, and one whose name is not the plan's.
junit("section-not-in-plan.xml", case("Test00Preflight") + case("Test09Extra", section=("09", "extra")))
junit("name-differs.xml", case("Test04Train", {"name": "training"}))
junit("warnings-negative.xml", case("Test04Train", {"warnings": "-1"}))
junit("nan-lines-text.xml", case("Test04Train", {"nan_lines": "some"}))
junit("exit-code-text.xml", case("Test04Train", {"exit_code": "killed"}))
junit("duration-with-unit.xml", case("Test04Train", {"duration": "12.4s"}))
junit("peak-not-a-number.xml", case("Test04Train", {"peak_util_pct": "high"}))
# The suite's result word and JUnit's status disagree: refused, never corrected.
junit("result-pass-but-skipped.xml", case("Test07AMPFP16", status=SKIPPED))
junit("result-skipped-but-failed.xml", case("Test04Train", {"result": "SKIPPED", "reason": "blocked by 03-validate"}, status=FAILED))
junit("result-fail-but-passed.xml", case("Test04Train", {"result": "FAIL", "reason": "04-train: exit code 1"}))
junit("result-not-run-but-passed.xml", case("Test04Train", {"result": "NOT RUN"}))


def pycase(name, index="1", result="PASS", status=""):
    """A pytest case's subtest, as the lanes write it: case, case_index and result properties."""
    props = prop("case", "tests.test_config::test_roundtrip") + (prop("case_index", index) if index is not None else "") + prop("result", result)
    return case(name, props, status=status)


# A pytest case folded under a section: on a test that is no subtest, without its position,
# under a test that records no section, with a gap in the positions, twice at one position, and
# with a result JUnit's status contradicts.
junit("case-on-a-section-test.xml", case("Test04Train", prop("case", "tests.test_config::test_roundtrip") + prop("case_index", "1") + prop("result", "PASS")))
junit("case-without-index.xml", case("Test04Train") + pycase("Test04Train/tests.test_config::test_roundtrip", index=None))
junit("case-of-no-section.xml", case("Test04Train") + pycase("TestLint/tests.test_config::test_roundtrip"))
junit("case-missing-position.xml", case("Test04Train") + pycase("Test04Train/a", "1") + pycase("Test04Train/b", "3"))
junit("case-twice.xml", case("Test04Train") + pycase("Test04Train/a", "1") + pycase("Test04Train/b", "1"))
junit("case-result-fail-but-passed.xml", case("Test04Train") + pycase("Test04Train/a", result="FAIL"))

# ---------------------------------------------------------------- runjson/
# Each *.json is the run.json of an evidence directory whose junit.xml is minimal and valid. The
# base has the shape of a recorded one (checklist/testdata/runs/*/run.json, schema_version 2):
# the plan as it ran, with each section's result, from a real checkout on a GPU instance.

PY = "/opt/venv/bin/python3"
CMD = {
    "01": PY + " -m pip install -e './difftrain[text2image]'",
    "02": PY + " ./difftrain/scripts/make_dummy_imagefolder.py --output-dir ./data/smoke_text2image --num-images 4 --image-size 64",
    "03": PY + " ./difftrain/scripts/validate_config.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run --deterministic",
    "04": PY + " ./difftrain/scripts/train_text_to_image.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run",
    "06": PY + " ./difftrain/scripts/train_text_to_image.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run --resume-from ./difftrain/_tmp_run/checkpoint-2.pt",
    "07": PY + " ./difftrain/scripts/train_text_to_image.py --config ./difftrain/_tmp_run/smoke_fp16.yaml --output-dir ./difftrain/_tmp_run_fp16",
    "08": PY + " ./difftrain/scripts/train_text_to_image.py --config ./difftrain/_tmp_run/smoke_bf16.yaml --output-dir ./difftrain/_tmp_run_bf16",
}
TITLES = {"00": "Preflight (environment facts, NVML, nvidia-smi)", "01": "Install dependencies (text2image extras)",
          "02": "Create dummy ImageFolder dataset", "03": "Repro snapshot validation (deterministic)",
          "04": "Smoke training (2 steps)", "05": "Verify artifacts", "06": "Resume from checkpoint-2.pt",
          "07": "AMP fp16 run", "08": "AMP bf16 run"}
OPTIONAL = {"01", "03", "06", "07", "08"}


def section(test, result="PASS"):
    number, name = PLAN[test]
    s = {"section": number, "name": name, "title": TITLES[number], "expected": "as the runbook says",
         "optional": number in OPTIONAL, "test": test, "result": result, "warnings": 0, "nan_lines": 0}
    if number in CMD:
        s.update(command=CMD[number], exit_code=0, duration="1.5", log="logs/%s-%s.log" % (number, name))
    return s


run = {
    "schema_version": 2, "harness": {"version": "v1.2.3", "commit": "0123456789abcdef0123456789abcdef01234567"},
    "started_utc": "2026-03-02T09:14:00Z", "finished_utc": "2026-03-02T09:21:37Z", "gpu_mode": True,
    "fixture": False, "difftrain_dir": "/workspace/difftrain", "workspace": "/workspace",
    "python": PY, "out": "/workspace/runs/smoke-20260302T091400Z",
    "plan": {"name": "difftrain MVP smoke (runbook baseline)", "path": "(embedded runbook)",
             "sha256": "6f1c0a8e4b2d9f7e3a5c1b0d8e6f4a2c9b7d5e3f1a0c8e6b4d2f0a9c7e5b3d1f", "deviations": []},
    "sections": [section(t) for t in sorted(PLAN, key=lambda t: PLAN[t][0])],
    "git": {"is_repo": True, "commit": "9f2c1e4b7a0d5e6f8a9b0c1d2e3f4a5b6c7d8e9f", "branch": "main", "clean": True},
    "guardrails": [{"rule": "stop at the first failure, no retries", "ok": True}],
    "temp_configs": ["./difftrain/_tmp_run/smoke_fp16.yaml", "./difftrain/_tmp_run/smoke_bf16.yaml"], "untracked": [],
    "leftovers": [], "checked_existing": [],
    "compute": {"gpu_used": True, "why": "NVML sees 1 GPU and torch sees CUDA"},
}


def runjson(name, edit=None, text=None):
    if text is None:
        r = json.loads(json.dumps(run))
        edit(r)
        text = dumps(r)
    write("runjson/" + name, text)


runjson("empty.json", text="")
runjson("truncated.json", text=dumps(run)[:300])
runjson("top-level-list.json", text="[]\n")
runjson("trailing-data.json", text=dumps(run) + "garbage\n")
runjson("started-missing.json", lambda r: r.pop("started_utc"))
runjson("started-not-rfc3339.json", lambda r: r.update(started_utc="2026-03-02 09:14:00"))
runjson("finished-not-rfc3339.json", lambda r: r.update(finished_utc="yesterday"))
runjson("fixture-string.json", lambda r: r.update(fixture="no"))
runjson("git-clean-string.json", lambda r: r["git"].update(clean="yes"))
runjson("deviations-not-list.json", lambda r: r["plan"].update(deviations={"section": "01"}))
runjson("deviation-section-bad.json", lambda r: r["plan"].update(deviations=[
    {"section": "install", "name": "install", "runbook": "a", "command": "b", "reason": "offline"}]))
runjson("guardrail-rule-empty.json", lambda r: r["guardrails"].append({"rule": " ", "ok": False}))
# The sections: the plan as it ran, each with its result.
runjson("sections-missing.json", lambda r: r.pop("sections"))  # as schema_version 1 wrote it
runjson("sections-not-list.json", lambda r: r.update(sections=r["sections"][4]))
runjson("section-not-a-number.json", lambda r: r["sections"][4].update(section="four"))
runjson("section-twice.json", lambda r: r["sections"][5].update(section="04"))
runjson("section-result-unknown.json", lambda r: r["sections"][4].update(result="OK"))
runjson("section-result-lowercase.json", lambda r: r["sections"][4].update(result="pass"))
runjson("section-exit-code-string.json", lambda r: r["sections"][4].update(exit_code="1"))
runjson("section-warnings-float.json", lambda r: r["sections"][4].update(warnings=1.5))
runjson("section-notes-string.json", lambda r: r["sections"][4].update(notes="2 steps"))

# ---------------------------------------------------------------- gpuenv/
# Each *.json is a gpu_env.json, read with gpuenv.Read (and by the checklist loader).

gpu_env = {
    "schema_version": 1, "collected_utc": "2026-03-02T09:14:01Z",
    "nvml": {"available": True, "driver_version": "550.54.15", "cuda_driver_version": "12.4",
             "gpus": [{"index": 0, "name": "NVIDIA GeForce RTX 4090", "uuid": "GPU-0", "pci_bus_id": "00000000:01:00.0",
                       "memory_total_bytes": 25757220864, "compute_capability": "8.9", "persistence_mode": "enabled",
                       "ecc_mode": "n/a", "mig_mode": "n/a", "power_limit_watts": 450, "max_sm_clock_mhz": 3120,
                       "max_mem_clock_mhz": 10501, "pcie_gen": 4, "pcie_width": 16}]},
    "host": {"hostname": "gpu-1", "os": "Ubuntu 22.04.4 LTS", "kernel": "6.5.0", "arch": "amd64",
             "cpu_model": "AMD EPYC", "cpu_cores": 16, "memory_bytes": 135089000000},
    "python": {"interpreter": "python", "executable": "/opt/venv/bin/python3", "version": "3.11.7",
               "torch": {"version": "2.3.1", "cuda": "12.1", "cuda_available": True, "bf16_supported": True},
               "packages": {"diffusers": "0.29.2"}},
    "health": [], "notes": [],
}


def gpuenv(name, edit=None, text=None):
    if text is None:
        g = json.loads(json.dumps(gpu_env))
        edit(g)
        text = json.dumps(g, indent=2) + "\n"
    write("gpuenv/" + name, text)


gpuenv("empty.json", text="")
gpuenv("truncated.json", text=json.dumps(gpu_env, indent=2)[:400])
gpuenv("top-level-list.json", text="[]\n")
gpuenv("trailing-data.json", text=json.dumps(gpu_env, indent=2) + "\nx\n")
gpuenv("schema-version-2.json", lambda g: g.update(schema_version=2))
gpuenv("schema-version-missing.json", lambda g: g.pop("schema_version"))
gpuenv("memory-string.json", lambda g: g["nvml"]["gpus"][0].update(memory_total_bytes="24 GiB"))
gpuenv("memory-negative.json", lambda g: g["nvml"]["gpus"][0].update(memory_total_bytes=-1))
gpuenv("pcie-gen-float.json", lambda g: g["nvml"]["gpus"][0].update(pcie_gen=4.5))
gpuenv("gpus-not-list.json", lambda g: g["nvml"].update(gpus=g["nvml"]["gpus"][0]))
gpuenv("health-not-list.json", lambda g: g.update(health={"severity": "fatal"}))
gpuenv("package-version-number.json", lambda g: g["python"]["packages"].update(numpy=1.26))
gpuenv("nan-power.json", text=json.dumps(gpu_env, indent=2).replace('"power_limit_watts": 450', '"power_limit_watts": NaN'))

# ---------------------------------------------------------------- template/
# Each *.md is a checklist template given to checklist.Render: none can be filled, and each must
# get a note naming the file, never a panic.

STEP_ROW = "| 3 | `python ./difftrain/scripts/validate_config.py --config ./difftrain/configs/smoke_text2image.yaml --output-dir ./difftrain/_tmp_run --deterministic` | exits 0 | | |\n"


def template(name, text):
    write("template/" + name, text)


template("empty.md", "")
template("binary.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00@\x00\x00\x00@\x08\x02\x00\x00\x00")
template("prose-only.md", "# MVP smoke checklist\n\nRun the steps in the runbook and write down what happened.\n")
template("no-command-column.md", "| Step | Expected | Result (PASS/FAIL/NA) | Notes |\n| --- | --- | --- | --- |\n"
         "| validate | exits 0 | | |\n")
template("no-result-column.md", "| Step | Command | Expected | Notes |\n| --- | --- | --- | --- |\n"
         + STEP_ROW.replace(" | | |\n", " | |\n"))
template("no-delimiter-row.md", "| Step | Command | Expected | Result (PASS/FAIL/NA) | Notes |\n" + STEP_ROW)
template("unknown-fields.md", "| Field | Value |\n| --- | --- |\n| Favourite colour | |\n| Lunch | |\n")
template("unclosed-fence.md", "```\n| Step | Command | Expected | Result (PASS/FAIL/NA) | Notes |\n"
         "| --- | --- | --- | --- | --- |\n" + STEP_ROW)
template("cr-line-endings.md", ("| Step | Command | Expected | Result (PASS/FAIL/NA) | Notes |\n"
                                "| --- | --- | --- | --- | --- |\n" + STEP_ROW).replace("\n", "\r"))
template("html-table.md", "<table>\n<tr><th>Step</th><th>Command</th><th>Result</th></tr>\n"
         "<tr><td>3</td><td><code>python ./difftrain/scripts/validate_config.py</code></td><td></td></tr>\n</table>\n")
template("huge-line.md", "| Step | Command | Result | " + "x | " * 30000)

for kind in sorted(written):
    print("%-10s %d" % (kind, written[kind]))
