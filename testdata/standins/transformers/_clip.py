"""A byte-level tokenizer and an embedding-only text encoder."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

HIDDEN = 32
VOCAB = 258  # bytes, plus padding (256) and end of text (257)
PAD, EOS = 256, 257


class CLIPTokenizer:
    model_max_length = 16

    @classmethod
    def from_pretrained(cls, model_id, subfolder=None, revision=None, **kwargs):
        return cls()

    def __call__(self, texts, max_length=None, padding=None, truncation=False, return_tensors=None, **kwargs):
        if isinstance(texts, str):
            texts = [texts]
        n = max_length or self.model_max_length
        rows = []
        for text in texts:
            ids = list(text.encode("utf-8"))[: n - 1] + [EOS]
            if padding == "max_length":
                ids += [PAD] * (n - len(ids))
            rows.append(ids)
        ids = torch.tensor(rows, dtype=torch.long) if return_tensors == "pt" else rows
        return SimpleNamespace(input_ids=ids)


class CLIPTextModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, HIDDEN)

    @classmethod
    def from_pretrained(cls, model_id, subfolder=None, revision=None, **kwargs):
        torch.manual_seed(2)
        return cls()

    def forward(self, input_ids, **kwargs):
        return SimpleNamespace(last_hidden_state=self.embed(input_ids))
