"""The image transforms difftrain composes, on PIL images and torch tensors."""

from __future__ import annotations

import enum
import random


class InterpolationMode(enum.Enum):
    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    LANCZOS = "lanczos"
    BOX = "box"
    HAMMING = "hamming"


def _pil_filter(mode):
    from PIL import Image

    return getattr(Image, mode.name)


class Compose:
    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


class Resize:
    """Resizes the shorter side to size, keeping the aspect ratio."""

    def __init__(self, size, interpolation=InterpolationMode.BILINEAR):
        self.size, self.interpolation = size, interpolation

    def __call__(self, img):
        w, h = img.size
        if isinstance(self.size, (tuple, list)):
            nh, nw = self.size
        elif w <= h:
            nw, nh = self.size, max(1, round(h * self.size / w))
        else:
            nw, nh = max(1, round(w * self.size / h)), self.size
        return img.resize((nw, nh), _pil_filter(self.interpolation))


class CenterCrop:
    def __init__(self, size):
        self.size = size

    def __call__(self, img):
        w, h = img.size
        left, top = (w - self.size) // 2, (h - self.size) // 2
        return img.crop((left, top, left + self.size, top + self.size))


class RandomCrop:
    def __init__(self, size):
        self.size = size

    def __call__(self, img):
        w, h = img.size
        left, top = random.randint(0, w - self.size), random.randint(0, h - self.size)
        return img.crop((left, top, left + self.size, top + self.size))


class RandomHorizontalFlip:
    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, img):
        from PIL import Image

        return img.transpose(Image.FLIP_LEFT_RIGHT) if random.random() < self.p else img


class Lambda:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)


class ToTensor:
    """A PIL RGB image to a float tensor C×H×W in [0, 1]."""

    def __call__(self, img):
        import numpy as np
        import torch

        a = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
        return torch.from_numpy(a.copy()).permute(2, 0, 1).contiguous()


class Normalize:
    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def __call__(self, t):
        import torch

        mean = torch.tensor(self.mean, dtype=t.dtype).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=t.dtype).view(-1, 1, 1)
        return (t - mean) / std
