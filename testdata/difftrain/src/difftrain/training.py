"""Text-to-image training loop: precision fallbacks, logging, checkpoints and resume.

With real torch it trains a tiny conv "unet" on the dummy images (noise prediction, MSE) and
saves with torch.save; without it, a deterministic stand-in updates a few float32 tensors and
writes the same checkpoint format with the standard library.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
import random
import struct
import warnings
from pathlib import Path

from . import _fixture, checkpoints, data, repro
from .config import Config

log = logging.getLogger("difftrain")

UNET_SHAPES = collections.OrderedDict(
    [("conv_in.weight", (8, 3, 3, 3)), ("conv_in.bias", (8,)), ("conv_out.weight", (3, 8, 3, 3)), ("conv_out.bias", (3,))]
)
BETAS, EPS = (0.9, 0.999), 1e-08


def resolve_precision(requested: str) -> str:
    if requested == "fp32":
        return "fp32"
    if not repro.cuda_available():
        log.warning("precision=%s requested on non-CUDA device; falling back to fp32", requested)
        return "fp32"
    if requested == "bf16" and not repro.import_torch().cuda.is_bf16_supported():
        log.warning("bf16 not supported on this CUDA device; falling back to fp32")
        return "fp32"
    return requested


def train(cfg: Config, output_dir: Path) -> int:
    """Runs training up to train.max_steps, checkpoints in output_dir; returns the final global step.

    As the real runner, a precision fallback is written back into cfg: the checkpoints then record
    fp32 in `precision` and in `config`, while config.resolved.yaml (written before) keeps the
    requested precision.
    """
    t = cfg.train
    requested = t.precision
    precision = resolve_precision(requested)
    t.precision = precision
    log.info("training precision: %s", precision)
    resume_from = t.resume_from
    _fixture.inject("train_text_to_image", requested, *(["resume"] if resume_from else []))
    _fixture.crash()
    _fixture.write_noise()
    records = data.load_records(cfg.data.data_root)
    torch = repro.real_torch()
    backend = _TorchBackend(torch, cfg, precision, records) if torch else _StdlibBackend(cfg, precision)

    global_step = 0
    if resume_from:
        ckpt_path = Path(resume_from).expanduser()  # pathlib drops a leading "./" in the log, as the real one
        if not ckpt_path.exists():
            raise FileNotFoundError(f"resume_from checkpoint not found: {ckpt_path}")
        log.info("resuming from checkpoint: %s", ckpt_path)
        ckpt = backend.load(ckpt_path)
        backend.restore(ckpt)
        global_step = int(ckpt["global_step"])
        if backend.uses_scaler and ckpt.get("scaler") is None:
            log.warning("checkpoint missing scaler state; continuing without scaler restore")
        elif backend.uses_scaler:
            backend.restore_scaler(ckpt["scaler"])
        elif ckpt.get("scaler") is not None:
            log.warning("checkpoint has scaler state but AMP is disabled in current run")

    while global_step < t.max_steps:
        _fixture.slow_step()
        loss = backend.step(global_step)
        global_step += 1
        if _fixture.perturb() and global_step == _fixture.PERTURB_AFTER_STEP:
            backend.perturb()
        loss = _fixture.bad_loss(_fixture.perturb_loss(global_step, loss))
        if global_step % t.log_every == 0:
            log.info("step=%d loss=%.6f", global_step, loss)
        if global_step % t.checkpointing_steps == 0 and not _fixture.skip_checkpoint(global_step):
            path = Path(output_dir) / f"checkpoint-{global_step}.pt"
            backend.save(path, {
                "global_step": global_step,
                "unet": backend.unet_state(),
                "optimizer": backend.optimizer_state(),
                "precision": precision,
                "scaler": backend.scaler_state(),
                "config": cfg.to_dict(),
                **_fixture.leak_checkpoint(),
            })
            _fixture.sparse_checkpoint(path, global_step, t.max_steps)
            log.info("saved checkpoint: %s", path)
    log.info("training completed: global_step=%d", global_step)
    return global_step


def _adamw_group(cfg: Config) -> dict:
    return {"lr": cfg.train.learning_rate, "betas": BETAS, "eps": EPS, "weight_decay": cfg.train.weight_decay,
            "amsgrad": False, "foreach": None, "maximize": False, "capturable": False,
            "params": list(range(len(UNET_SHAPES)))}


class _StdlibBackend:
    """AdamW on pseudo-gradients over a few float32 tensors; the loss is a decreasing function of the seed."""

    def __init__(self, cfg: Config, precision: str):
        self.cfg, self.seed = cfg, cfg.train.seed
        location = "cuda:0" if repro.cuda_available() else "cpu"
        rng = random.Random(self.seed)
        self.params = collections.OrderedDict(
            (name, checkpoints.Tensor([rng.gauss(0.0, 0.1) for _ in range(math.prod(shape))], shape, location))
            for name, shape in UNET_SHAPES.items()
        )
        self.exp_avg = {n: [0.0] * len(p.values) for n, p in self.params.items()}
        self.exp_avg_sq = {n: [0.0] * len(p.values) for n, p in self.params.items()}
        self.t = 0
        self.uses_scaler = precision == "fp16"
        self.scale, self.growth_tracker = 65536.0, 0
        self.loss0 = 0.5 + 0.5 * rng.random()

    def step(self, step: int) -> float:
        rng = random.Random(self.seed * 1000003 + step)
        lr, wd, (b1, b2) = self.cfg.train.learning_rate, self.cfg.train.weight_decay, BETAS
        self.t += 1
        for name, p in self.params.items():
            m, v = self.exp_avg[name], self.exp_avg_sq[name]
            for i, w in enumerate(p.values):
                g = 0.5 * w + rng.gauss(0.0, 0.01)
                m[i] = b1 * m[i] + (1 - b1) * g
                v[i] = b2 * v[i] + (1 - b2) * g * g
                mhat, vhat = m[i] / (1 - b1 ** self.t), v[i] / (1 - b2 ** self.t)
                p.values[i] = w - lr * (mhat / (math.sqrt(vhat) + EPS) + wd * w)
        if self.uses_scaler:
            self.growth_tracker += 1
        return self.loss0 * 0.9 ** step + 0.05 * rng.random()

    def perturb(self) -> None:
        """FIXTURE_PERTURB: conv_out.bias[0] moves to the next float32 up."""
        values = self.params["conv_out.bias"].values
        bits = struct.unpack("<I", struct.pack("<f", values[0]))[0]
        values[0] = struct.unpack("<f", struct.pack("<I", bits + 1 if values[0] >= 0 else bits - 1))[0]

    def unet_state(self):
        return self.params

    def optimizer_state(self):
        location = next(iter(self.params.values())).location
        state = {
            i: {"step": float(self.t),
                "exp_avg": checkpoints.Tensor(self.exp_avg[n], self.params[n].shape, location),
                "exp_avg_sq": checkpoints.Tensor(self.exp_avg_sq[n], self.params[n].shape, location)}
            for i, n in enumerate(self.params)
        }
        return {"state": state, "param_groups": [_adamw_group(self.cfg)]}

    def scaler_state(self):
        if not self.uses_scaler:
            return None
        return {"scale": self.scale, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000,
                "_growth_tracker": self.growth_tracker}

    def save(self, path, payload):
        checkpoints.save_zip(payload, path)

    def load(self, path):
        return checkpoints.load_zip(path)

    def restore(self, ckpt):
        for name, tensor in ckpt["unet"].items():
            if name in self.params:
                self.params[name].values = list(tensor.values)
        for i, name in enumerate(self.params):
            st = ckpt["optimizer"]["state"].get(i, {})
            if "exp_avg" in st:
                self.exp_avg[name], self.exp_avg_sq[name] = list(st["exp_avg"].values), list(st["exp_avg_sq"].values)
            step = st.get("step", self.t)
            self.t = int(step.values[0] if isinstance(step, checkpoints.Tensor) else step)

    def restore_scaler(self, state):
        self.scale, self.growth_tracker = float(state["scale"]), int(state["_growth_tracker"])


class _TorchBackend:
    """A tiny conv noise predictor trained with real torch (autocast and GradScaler on CUDA)."""

    def __init__(self, torch, cfg: Config, precision: str, records: list[dict]):
        self.torch, self.cfg, self.seed = torch, cfg, cfg.train.seed
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        nn, F = torch.nn, torch.nn.functional
        torch.manual_seed(self.seed)
        self.model = nn.Sequential(collections.OrderedDict(
            conv_in=nn.Conv2d(3, 8, 3, padding=1), act=nn.SiLU(), conv_out=nn.Conv2d(8, 3, 3, padding=1)
        )).to(self.device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.train.learning_rate, betas=BETAS, eps=EPS,
                                     weight_decay=cfg.train.weight_decay)
        self.uses_scaler = precision == "fp16"
        self.scaler = None
        if self.uses_scaler:
            amp = getattr(torch, "amp", None)
            self.scaler = amp.GradScaler("cuda") if hasattr(amp, "GradScaler") else torch.cuda.amp.GradScaler()
        self.amp_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)

        size, images = cfg.data.image_size, []
        for r in records:
            w, h, rgb = data.load_rgb(Path(cfg.data.data_root) / r[cfg.data.image_column])
            x = torch.tensor(list(rgb), dtype=torch.uint8).view(h, w, 3).permute(2, 0, 1).float() / 127.5 - 1.0
            if (h, w) != (size, size):
                x = F.interpolate(x[None], size=(size, size), mode="bilinear", align_corners=False)[0]
            images.append(x)
        self.images = torch.stack(images).to(self.device)
        n_t = cfg.scheduler.num_train_timesteps
        if cfg.scheduler.beta_schedule == "scaled_linear":
            betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, n_t) ** 2
        else:
            betas = torch.linspace(1e-4, 0.02, n_t)
        self.alpha_bar = torch.cumprod(1.0 - betas, 0).to(self.device)

    def step(self, step: int) -> float:
        torch, bs = self.torch, self.cfg.data.batch_size
        gen = torch.Generator().manual_seed(self.seed * 1000003 + step)
        idx = [(step * bs + i) % len(self.images) for i in range(bs)]
        x = self.images[idx]
        noise = torch.randn(x.shape, generator=gen).to(self.device)
        t = torch.randint(0, len(self.alpha_bar), (bs,), generator=gen).to(self.device)
        ab = self.alpha_bar[t].view(-1, 1, 1, 1)
        noisy = ab.sqrt() * x + (1.0 - ab).sqrt() * noise
        ctx = torch.autocast("cuda", dtype=self.amp_dtype) if self.amp_dtype else contextlib.nullcontext()
        with ctx:
            pred = self.model(noisy)
        loss = torch.nn.functional.mse_loss(pred.float(), noise)
        self.opt.zero_grad(set_to_none=True)
        clip = self.cfg.train.max_grad_norm
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.opt)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.opt.step()
        return float(loss.item())

    def perturb(self) -> None:
        """FIXTURE_PERTURB: conv_out.bias[0] moves to the next float32 up."""
        with self.torch.no_grad():
            b = self.model.conv_out.bias
            b[0] = self.torch.nextafter(b[0], self.torch.tensor(math.inf, device=b.device))

    def unet_state(self):
        return self.model.state_dict()

    def optimizer_state(self):
        return self.opt.state_dict()

    def scaler_state(self):
        return self.scaler.state_dict() if self.scaler is not None else None

    def save(self, path, payload):
        self.torch.save(payload, path)

    def load(self, path):
        with warnings.catch_warnings():  # torch 2.4/2.5 warn about the weights_only default
            warnings.simplefilter("ignore", FutureWarning)
            return self.torch.load(path, map_location=self.device)

    def restore(self, ckpt):
        self.model.load_state_dict(ckpt["unet"])
        self.opt.load_state_dict(ckpt["optimizer"])

    def restore_scaler(self, state):
        self.scaler.load_state_dict(state)
