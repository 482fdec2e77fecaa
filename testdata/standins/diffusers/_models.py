"""The stand-in models. Shapes are tiny: 3-channel images in, 4-channel latents at 1/8 size."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

LATENT_CHANNELS = 4
HIDDEN = 32  # the text encoder's width, shared with transformers' stand-in


class _Output(SimpleNamespace):
    pass


class _Config(SimpleNamespace):
    pass


class UNet2DConditionModel(nn.Module):
    """Predicts noise from noisy latents, conditioned on the timestep and the text states."""

    def __init__(self):
        super().__init__()
        self.config = _Config(in_channels=LATENT_CHANNELS, cross_attention_dim=HIDDEN)
        self.conv_in = nn.Conv2d(LATENT_CHANNELS, 8, 3, padding=1)
        self.time_proj = nn.Linear(1, 8)
        self.text_proj = nn.Linear(HIDDEN, 8)
        self.conv_out = nn.Conv2d(8, LATENT_CHANNELS, 3, padding=1)

    @classmethod
    def from_pretrained(cls, model_id, subfolder=None, revision=None, variant=None, **kwargs):
        torch.manual_seed(0)
        return cls()

    def forward(self, sample, timestep, encoder_hidden_states, **kwargs):
        h = self.conv_in(sample)
        t = self.time_proj(timestep.float().view(-1, 1) / 1000.0)
        c = self.text_proj(encoder_hidden_states.mean(dim=1))
        h = torch.nn.functional.silu(h + (t + c)[:, :, None, None])
        return _Output(sample=self.conv_out(h))


class _LatentDist:
    def __init__(self, mean):
        self.mean = mean

    def sample(self, generator=None):
        return self.mean


class AutoencoderKL(nn.Module):
    """Encodes images to latents at 1/8 of their size."""

    def __init__(self):
        super().__init__()
        self.config = _Config(scaling_factor=0.18215, latent_channels=LATENT_CHANNELS)
        self.encoder = nn.Conv2d(3, LATENT_CHANNELS, 8, stride=8)

    @classmethod
    def from_pretrained(cls, model_id, subfolder=None, revision=None, variant=None, **kwargs):
        torch.manual_seed(1)
        return cls()

    def encode(self, pixel_values):
        return _Output(latent_dist=_LatentDist(self.encoder(pixel_values)))


class DDPMScheduler:
    """DDPM's forward process over a linear beta schedule."""

    def __init__(self, num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, prediction_type="epsilon"):
        self.config = _Config(num_train_timesteps=num_train_timesteps, prediction_type=prediction_type)
        betas = torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float32)
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)

    @classmethod
    def from_pretrained(cls, model_id, subfolder=None, **kwargs):
        return cls()

    @property
    def prediction_type(self):
        return self.config.prediction_type

    def register_to_config(self, **kwargs):
        for k, v in kwargs.items():
            setattr(self.config, k, v)

    def _coefficients(self, timesteps, like):
        ac = self.alphas_cumprod.to(device=like.device, dtype=like.dtype)[timesteps]
        shape = (-1,) + (1,) * (like.dim() - 1)
        return ac.sqrt().view(shape), (1.0 - ac).sqrt().view(shape)

    def add_noise(self, original_samples, noise, timesteps):
        a, s = self._coefficients(timesteps, original_samples)
        return a * original_samples + s * noise

    def get_velocity(self, sample, noise, timesteps):
        a, s = self._coefficients(timesteps, sample)
        return a * noise - s * sample
