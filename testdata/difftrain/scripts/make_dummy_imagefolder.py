"""Create a tiny ImageFolder dataset: random RGB PNGs plus metadata.jsonl captions."""

import argparse
import json
import random
import sys
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from difftrain import _fixture, data  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--num-images", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    _fixture.touch_tracked("make_dummy_imagefolder")
    _fixture.leak_env()
    _fixture.write_untracked("make_dummy_imagefolder")
    _fixture.commit("make_dummy_imagefolder")
    _fixture.inject("make_dummy_imagefolder")

    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    size, nbytes = args.image_size, args.image_size * args.image_size * 3
    try:  # the real script's way, when numpy and Pillow are there
        import numpy as np
        from PIL import Image

        rng = np.random.default_rng(args.seed)

        def save(path):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)

    except ImportError:
        rnd = random.Random(args.seed)

        def save(path):
            data.write_png(path, size, size, rnd.getrandbits(8 * nbytes).to_bytes(nbytes, "little"))

    with open(out / data.METADATA, "w", encoding="utf-8") as meta:
        for i in range(args.num_images):
            name = f"{i:05d}.png"
            save(out / name)
            meta.write(json.dumps({"file_name": name, "text": f"dummy caption {i}"}) + "\n")
    print(f"[difftrain] wrote {args.num_images} images and {data.METADATA} to {out.resolve()}")


if __name__ == "__main__":
    main()
