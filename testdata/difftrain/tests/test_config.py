from pathlib import Path

import pytest

from difftrain import config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_smoke_config_values():
    cfg, _ = config.load_config(CONFIGS / "smoke_text2image.yaml")
    assert (cfg.train.seed, cfg.train.precision, cfg.train.max_steps) == (123, "fp32", 2)
    assert (cfg.train.checkpointing_steps, cfg.train.log_every, cfg.train.resume_from) == (1, 1, "")
    assert (cfg.data.data_root, cfg.data.image_size, cfg.data.batch_size) == ("data/smoke_text2image", 64, 1)


def test_base_config_is_all_defaults():
    cfg, _ = config.load_config(CONFIGS / "base.yaml")
    assert cfg == config.Config()


@pytest.mark.parametrize("raw", [{"train": {"sed": 1}}, {"extra": {}}, {"train": {"precision": "fp8"}}])
def test_bad_configs_are_errors(raw):
    with pytest.raises(ValueError):
        config.from_dict(raw)


def test_tiny_yaml_matches_round_trip():
    resolved = config.Config().to_dict()
    text = "".join(config._dump_lines(resolved, 0))
    assert config._parse_yaml(text) == resolved
    assert config._parse_yaml('a:\n    b: "x" # note\n    c: \'\'\n') == {"a": {"b": "x", "c": ""}}
