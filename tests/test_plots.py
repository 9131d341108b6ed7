"""History charts: panel grid shape, where the line lands, NaN/inf skipping, user errors."""

import csv
import os

import cv2
import numpy as np
import pytest

from gan_apps.errors import UserInputError
from gan_apps.plots import GRID_COLUMNS, PANEL_HEIGHT, PANEL_WIDTH, plot_history


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def read_rgb(path):
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"{path} is not a readable image"
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def panel(image, index, columns=GRID_COLUMNS):
    r, c = divmod(index, columns)
    return image[r * PANEL_HEIGHT : (r + 1) * PANEL_HEIGHT, c * PANEL_WIDTH : (c + 1) * PANEL_WIDTH]


def line_pixels(panel_image):
    # The line is the only blue ink: text is near-black and the frame grey (R == G == B).
    rgb = panel_image.astype(int)
    rows, cols = np.nonzero(rgb[..., 2] - rgb[..., 0] > 60)
    return rows, cols


def history(path, metrics, epochs=10):
    """A CSVLogger-like file whose i-th metric is (i + 1) * epoch."""
    rows = [[e] + [(i + 1) * e for i in range(len(metrics))] for e in range(epochs)]
    return write_csv(path, ["epoch", *metrics], rows)


@pytest.mark.parametrize("n, grid", [(1, (1, 1)), (2, (1, 2)), (5, (2, 3)), (7, (3, 3))])
def test_one_panel_per_metric(tmp_path, n, grid):
    csv_path = history(tmp_path / "history.csv", [f"m{i}" for i in range(n)])
    png = plot_history(csv_path, tmp_path / "out" / "history.png")
    assert png == str(tmp_path / "out" / "history.png")
    image = read_rgb(png)
    assert image.shape == (grid[0] * PANEL_HEIGHT, grid[1] * PANEL_WIDTH, 3)
    assert os.listdir(tmp_path / "out") == ["history.png"]  # no temp file left behind


def test_panels_are_drawn_and_unused_cells_stay_blank(tmp_path):
    csv_path = history(tmp_path / "history.csv", ["d_loss", "g_loss", "d_real", "d_fake", "fid"])
    image = read_rgb(plot_history(csv_path, tmp_path / "h.png"))
    for i in range(5):
        ink = np.sum(panel(image, i).min(axis=-1) < 200)
        text = np.sum(panel(image, i).max(axis=-1) < 128)  # title and tick labels
        assert ink > 1000 and text > 100, f"panel {i}: {ink} inked, {text} dark pixels"
        assert len(line_pixels(panel(image, i))[0]) > 500
    assert np.all(panel(image, 5) == 255)


def test_line_follows_the_metric(tmp_path):
    epochs = np.arange(20)
    rows = [[e, float(e) ** 2, 100.0 - 3.0 * e] for e in epochs]
    csv_path = write_csv(tmp_path / "history.csv", ["epoch", "rising", "falling"], rows)
    image = read_rgb(plot_history(csv_path, tmp_path / "h.png"))
    for index, sign in [(0, -1), (1, 1)]:
        rows_px, cols_px = line_pixels(panel(image, index, columns=2))
        # Image rows grow downwards, so a rising metric means rows fall as columns grow.
        assert sign * np.corrcoef(cols_px, rows_px)[0, 1] > 0.9
        assert cols_px.max() - cols_px.min() > 0.6 * PANEL_WIDTH
        assert rows_px.max() - rows_px.min() > 0.5 * PANEL_HEIGHT


def test_non_finite_values_are_skipped(tmp_path):
    clean = [[e, 1.0 / (e + 1), np.sin(e)] for e in range(12)]
    dirty = [list(row) for row in clean]
    # "NA" is what CSVLogger writes for a missing key; inf must not stretch the y range.
    dirty[3][1], dirty[4][1], dirty[7][1] = "nan", "inf", "NA"
    dirty[5][2], dirty[8][2] = "-inf", ""
    a = write_csv(tmp_path / "dirty.csv", ["epoch", "a", "b"], dirty)
    image_dirty = read_rgb(plot_history(a, tmp_path / "dirty.png"))

    # Reference: each metric drawn from only its finite rows (the epoch range is unchanged).
    ref_a = [row[:2] for i, row in enumerate(clean) if i not in (3, 4, 7)]
    ref_b = [[row[0], row[2]] for i, row in enumerate(clean) if i not in (5, 8)]
    csv_a = write_csv(tmp_path / "ra.csv", ["epoch", "a"], ref_a)
    csv_b = write_csv(tmp_path / "rb.csv", ["epoch", "b"], ref_b)
    image_a = read_rgb(plot_history(csv_a, tmp_path / "ra.png"))
    image_b = read_rgb(plot_history(csv_b, tmp_path / "rb.png"))
    np.testing.assert_array_equal(panel(image_dirty, 0, columns=2), image_a)
    np.testing.assert_array_equal(panel(image_dirty, 1, columns=2), image_b)


def test_text_and_all_missing_columns_are_skipped(tmp_path):
    rows = [[e, 0.5 * e, "adam", "NA", "nan"] for e in range(6)]
    header = ["epoch", "d_loss", "optimizer", "val_d_loss", "kid"]
    csv_path = write_csv(tmp_path / "h.csv", header, rows)
    image = read_rgb(plot_history(csv_path, tmp_path / "h.png"))
    assert image.shape == (PANEL_HEIGHT, PANEL_WIDTH, 3)
    reference = write_csv(tmp_path / "r.csv", ["epoch", "d_loss"], [row[:2] for row in rows])
    np.testing.assert_array_equal(image, read_rgb(plot_history(reference, tmp_path / "r.png")))


def test_single_epoch_is_a_dot(tmp_path):
    csv_path = write_csv(tmp_path / "h.csv", ["epoch", "d_loss", "g_loss"], [[0, 0.69, 0.71]])
    image = read_rgb(plot_history(csv_path, tmp_path / "h.png"))
    assert image.shape == (PANEL_HEIGHT, 2 * PANEL_WIDTH, 3)
    for index in range(2):
        rows_px, cols_px = line_pixels(panel(image, index, columns=2))
        assert len(rows_px) >= 9
        assert rows_px.max() - rows_px.min() <= 8 and cols_px.max() - cols_px.min() <= 8


def test_columns_selects_and_orders_panels(tmp_path):
    csv_path = history(tmp_path / "history.csv", ["d_loss", "g_loss", "fid"])
    chosen = read_rgb(plot_history(csv_path, tmp_path / "c.png", columns=["fid", "d_loss"]))
    everything = read_rgb(plot_history(csv_path, tmp_path / "a.png"))
    assert chosen.shape == (PANEL_HEIGHT, 2 * PANEL_WIDTH, 3)
    np.testing.assert_array_equal(panel(chosen, 0, columns=2), panel(everything, 2))
    np.testing.assert_array_equal(panel(chosen, 1, columns=2), panel(everything, 0))
    with pytest.raises(UserInputError, match="'kid'"):
        plot_history(csv_path, tmp_path / "x.png", columns=["kid"])


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserInputError, match="no history file"):
        plot_history(tmp_path / "nope.csv", tmp_path / "h.png")
    assert not (tmp_path / "h.png").exists()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "epoch,d_loss\n",
        "epoch,optimizer\n0,adam\n1,adam\n",
        "epoch,d_loss,g_loss\n0,NA,nan\n1,inf,\n",
    ],
    ids=["empty", "header_only", "text_only", "nothing_finite"],
)
def test_no_numeric_metric_is_a_user_error(tmp_path, text):
    path = tmp_path / "h.csv"
    path.write_text(text)
    with pytest.raises(UserInputError):
        plot_history(path, tmp_path / "h.png")
    assert not (tmp_path / "h.png").exists()
