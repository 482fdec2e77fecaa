"""Run configuration: five dataclass sections, loaded from YAML; unknown keys are an error."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

try:  # PyYAML when importable, else the tiny reader/writer below.
    import yaml
except ImportError:  # pragma: no cover - depends on the interpreter
    yaml = None

PRECISIONS = ("fp32", "fp16", "bf16")


@dataclass
class TrainConfig:
    seed: int = 42
    precision: str = "fp32"
    max_steps: int = 1000
    learning_rate: float = 0.0001
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    checkpointing_steps: int = 500
    log_every: int = 10
    output_dir: str = "runs/text2image"
    resume_from: str = ""


@dataclass
class DataConfig:
    data_root: str = "data/text2image"
    image_size: int = 512
    batch_size: int = 1
    num_workers: int = 0
    image_column: str = "file_name"
    caption_column: str = "text"


@dataclass
class ModelConfig:
    pretrained_model_name_or_path: str = "hf-internal-testing/tiny-stable-diffusion-pipe"
    revision: str | None = None
    use_ema: bool = False


@dataclass
class SchedulerConfig:
    num_train_timesteps: int = 1000
    beta_schedule: str = "scaled_linear"
    prediction_type: str = "epsilon"


@dataclass
class LossConfig:
    type: str = "mse"
    snr_gamma: float | None = None


@dataclass
class Config:
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    loss: LossConfig = field(default_factory=LossConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def from_dict(raw: dict | None) -> Config:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ValueError("config must be a mapping of sections")
    sections = {f.name: f for f in dataclasses.fields(Config)}
    unknown = sorted(set(raw) - set(sections))
    if unknown:
        raise ValueError(f"unknown config sections: {unknown}")
    built = {}
    for name, f in sections.items():
        cls = f.default_factory  # the section dataclass
        values = raw.get(name) or {}
        if not isinstance(values, dict):
            raise ValueError(f"config section {name!r} must be a mapping")
        known = {sf.name for sf in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown keys in config section {name!r}: {unknown}")
        built[name] = cls(**values)
    cfg = Config(**built)
    if cfg.train.precision not in PRECISIONS:
        raise ValueError(f"train.precision must be one of {PRECISIONS}, got {cfg.train.precision!r}")
    return cfg


def load_config(path: str | Path) -> tuple[Config, str]:
    """Returns the config and the source file's text."""
    text = Path(path).read_text(encoding="utf-8")
    return from_dict(load_yaml(text)), text


def load_yaml(text: str):
    return yaml.safe_load(text) if yaml is not None else _parse_yaml(text)


def dump_yaml(data: dict) -> str:
    if yaml is not None:
        return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1 << 20)
    return "".join(_dump_lines(data, 0))


# --- tiny YAML subset: nested block mappings of scalars, comments, quoted strings ---

_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$")
_NULLS = {"null", "Null", "NULL", "~"}
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}


def _strip_comment(line: str) -> str:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def _scalar(s: str):
    if len(s) >= 2 and s[0] == s[-1] == '"':
        return json.loads(s)
    if len(s) >= 2 and s[0] == s[-1] == "'":
        return s[1:-1].replace("''", "'")
    if s in _NULLS:
        return None
    if s in _BOOLS:
        return _BOOLS[s]
    if _INT.match(s):
        return int(s)
    if _FLOAT.match(s):
        return float(s)
    if s in ("{}", "[]"):
        return {} if s == "{}" else []
    return s


def _parse_yaml(text: str):
    root: dict = {}
    stack = [(-1, root)]
    opened = []  # mappings opened by "key:" with nothing after it
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw).rstrip()
        if not line.strip() or line.strip() in ("---", "..."):
            continue
        indent = len(line) - len(line.lstrip(" "))
        key, sep, rest = line.strip().partition(":")
        if not sep or (rest and not rest.startswith(" ")) or key.startswith("- "):
            raise ValueError(f"line {lineno}: unsupported YAML (tiny reader): {raw!r}")
        while indent <= stack[-1][0]:
            stack.pop()
        parent = stack[-1][1]
        key = str(_scalar(key.strip()))
        if rest.strip():
            parent[key] = _scalar(rest.strip())
        else:
            parent[key] = {}
            stack.append((indent, parent[key]))
            opened.append((parent, key))
    for parent, key in opened:  # "key:" with no children is null
        if parent[key] == {}:
            parent[key] = None
    return root or None


def _format_scalar(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    s = str(v)
    plain = (
        s
        and _scalar(s) == s
        and s == s.strip()
        and s[0] not in "-?:,[]{}#&*!|>'\"%@`"
        and ": " not in s
        and " #" not in s
    )
    return s if plain else "'" + s.replace("'", "''") + "'"


def _dump_lines(data: dict, indent: int):
    pad = " " * indent
    for k, v in data.items():
        if isinstance(v, dict) and v:
            yield f"{pad}{k}:\n"
            yield from _dump_lines(v, indent + 2)
        else:
            yield f"{pad}{k}: {'{}' if isinstance(v, dict) else _format_scalar(v)}\n"
