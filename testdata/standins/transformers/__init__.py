"""Stand-in for transformers (gpusmoke conformance lane): a tiny CLIP tokenizer and text encoder."""

__version__ = "0.0.0+gpusmoke.standin"

_NAMES = {"CLIPTextModel", "CLIPTokenizer"}


def __getattr__(name):
    if name in _NAMES:
        from . import _clip

        return getattr(_clip, name)
    raise AttributeError(f"module 'transformers' (gpusmoke stand-in) has no attribute {name!r}")
