"""Stand-in for diffusers (gpusmoke conformance lane): a tiny UNet, VAE and DDPM scheduler."""

__version__ = "0.0.0+gpusmoke.standin"

_NAMES = {"UNet2DConditionModel", "AutoencoderKL", "DDPMScheduler"}


def __getattr__(name):
    # torch is imported only when a model is asked for, so `import diffusers` stays cheap.
    if name in _NAMES:
        from . import _models

        return getattr(_models, name)
    raise AttributeError(f"module 'diffusers' (gpusmoke stand-in) has no attribute {name!r}")
