"""Build a folder pair for ``translate`` from the embedded photos, with a known mapping.

    python tools/make_translation_pair.py OUT [--mapping gamma|swap] [--tile 96]

Writes ``OUT/trainA``, ``OUT/trainB`` (unpaired training folders) and ``OUT/testA``,
``OUT/testB`` (paired test folders, files matched by name) as PNG tiles:

- the training photos (astronaut, rocket, motorcycle_left, china, immunohistochemistry)
  are cut into non-overlapping ``tile`` x ``tile`` tiles, dealt alternately to A and B in a
  checkerboard, so the two domains share no pixel; B's tiles go through the mapping;
- the held-out photos (chelsea, coffee, flower) are cut the same way; ``testA/NAME.png`` is
  a tile and ``testB/NAME.png`` its mapped version (the true answer of G).

Mappings: ``gamma``: y = x ** 0.5 per channel on [0, 1] (brightens the shadows, moves a
held-out pixel by ~47/255 on average); ``swap``: red and blue exchanged.
Used by ``docs/benchmarks.md`` (block translation) with
``gan-apps translate train --data folder:OUT/trainA,OUT/trainB``.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gan_apps import images as image_io  # noqa: E402
from gan_apps.data import photos  # noqa: E402

TRAIN_PHOTOS = ("astronaut", "rocket", "motorcycle_left", "china", "immunohistochemistry")
GAMMA = 0.5


def gamma(tiles):
    """uint8 -> uint8, round(255 (x / 255) ** 0.5)."""
    x = np.asarray(tiles, np.float64) / 255.0
    return np.clip(np.round(x ** GAMMA * 255.0), 0, 255).astype(np.uint8)


def swap(tiles):
    """uint8 RGB -> BGR (red and blue exchanged)."""
    return np.ascontiguousarray(np.asarray(tiles)[..., ::-1])


MAPPINGS = {"gamma": gamma, "swap": swap}


def tiles(image, size):
    """Non-overlapping ``size`` tiles with their (row, column) grid position."""
    rows, cols = image.shape[0] // size, image.shape[1] // size
    return [((r, c), image[r * size:(r + 1) * size, c * size:(c + 1) * size])
            for r in range(rows) for c in range(cols)]


def build(out, mapping="gamma", tile=96):
    """Write the four folders under ``out``; returns the number of files in each."""
    mapped = MAPPINGS[mapping]
    counts = {}
    folders = {name: os.path.join(out, name) for name in ("trainA", "trainB", "testA", "testB")}
    for path in folders.values():
        os.makedirs(path, exist_ok=True)
    for name in TRAIN_PHOTOS:
        for (r, c), part in tiles(photos.photo(name), tile):
            domain = "trainA" if (r + c) % 2 == 0 else "trainB"
            image = part if domain == "trainA" else mapped(part)
            image_io.write_png(os.path.join(folders[domain], f"{name}_{r}_{c}.png"), image)
            counts[domain] = counts.get(domain, 0) + 1
    for name in photos.photo_names("test"):
        for (r, c), part in tiles(photos.photo(name), tile):
            image_io.write_png(os.path.join(folders["testA"], f"{name}_{r}_{c}.png"), part)
            image_io.write_png(os.path.join(folders["testB"], f"{name}_{r}_{c}.png"), mapped(part))
            counts["testA"] = counts["testB"] = counts.get("testA", 0) + 1
    return counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--mapping", choices=sorted(MAPPINGS), default="gamma")
    parser.add_argument("--tile", type=int, default=96)
    args = parser.parse_args(argv)
    print(build(args.out, args.mapping, args.tile))


if __name__ == "__main__":
    main()
