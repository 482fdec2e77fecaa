"""Stand-in for torchvision (gpusmoke conformance lane): the transforms difftrain uses."""

__version__ = "0.0.0+gpusmoke.standin"
