"""Training-history charts drawn with OpenCV, so plotting needs no matplotlib."""

from __future__ import annotations

import csv
import math
import os

import cv2
import numpy as np

from gan_apps.errors import UserInputError
from gan_apps.images import write_png

PANEL_WIDTH = 300
PANEL_HEIGHT = 200
GRID_COLUMNS = 3

# RGB colours: write_png expects RGB, so these are not OpenCV's usual BGR.
WHITE = (255, 255, 255)
TEXT = (30, 30, 30)
AXES = (170, 170, 170)
LINE = (31, 119, 180)

FONT = cv2.FONT_HERSHEY_SIMPLEX
TITLE_SCALE = 0.5
TICK_SCALE = 0.38

# Missing values in a history.csv: empty (callbacks.HistoryLogger) or "NA" (files written by
# Keras's CSVLogger before it).
_MISSING = {"", "na", "nan", "none", "null"}


def _read_history(csv_path):
    """Return (header, rows) of a CSV file, raising a UserInputError when it cannot be used."""
    if not os.path.isfile(csv_path):
        raise UserInputError(
            f"no history file at {csv_path!r}; pass the history.csv of a training run folder"
        )
    try:
        with open(csv_path, newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            rows = [row for row in reader if row]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise UserInputError(f"cannot read {csv_path!r} as CSV: {err}") from None
    if not header:
        raise UserInputError(
            f"{csv_path!r} is empty; pass the history.csv of a run that finished at least one epoch"
        )
    return [name.strip() for name in header], rows


def _numeric(values):
    """Column values as float64 (missing -> NaN), or None if any value is not a number."""
    out = np.empty(len(values), np.float64)
    for i, value in enumerate(values):
        text = value.strip()
        if text.lower() in _MISSING:
            out[i] = np.nan
            continue
        try:
            out[i] = float(text)
        except ValueError:
            return None
    return out


def _fmt(value):
    return f"{value + 0.0:.4g}"  # + 0.0 turns -0.0 into 0.0


def _fit_scale(text, max_width, scale):
    """Largest font scale <= ``scale`` at which ``text`` fits in ``max_width`` pixels."""
    width = cv2.getTextSize(text, FONT, scale, 1)[0][0]
    return scale if width <= max_width else scale * max_width / width


def _draw_panel(canvas, top, left, name, x, y, x_lo, x_hi):
    """Draw one metric as a line chart in the panel whose top-left corner is (top, left)."""
    finite = np.isfinite(x) & np.isfinite(y)
    y_lo, y_hi = float(np.min(y[finite])), float(np.max(y[finite]))
    # A flat metric or a single epoch still needs a non-empty range to map onto pixels.
    if y_hi == y_lo:
        pad = abs(y_lo) * 0.1 or 1.0
        y_lo, y_hi = y_lo - pad, y_hi + pad

    scale = _fit_scale(name, PANEL_WIDTH - 12, TITLE_SCALE)
    (title_w, title_h), _ = cv2.getTextSize(name, FONT, scale, 1)
    cv2.putText(
        canvas, name, (left + (PANEL_WIDTH - title_w) // 2, top + 8 + title_h),
        FONT, scale, TEXT, 1, cv2.LINE_AA,
    )

    y_labels = [_fmt(y_hi), _fmt(y_lo)]
    label_w = max(cv2.getTextSize(t, FONT, TICK_SCALE, 1)[0][0] for t in y_labels)
    x0, x1 = left + label_w + 10, left + PANEL_WIDTH - 12
    y0, y1 = top + 32, top + PANEL_HEIGHT - 26
    cv2.rectangle(canvas, (x0, y0), (x1, y1), AXES, 1)

    tick_h = cv2.getTextSize("0", FONT, TICK_SCALE, 1)[0][1]

    def tick(text, origin, colour=TEXT):
        cv2.putText(canvas, text, origin, FONT, TICK_SCALE, colour, 1, cv2.LINE_AA)

    tick(y_labels[0], (left + 4, y0 + tick_h))
    tick(y_labels[1], (left + 4, y1))
    baseline = y1 + tick_h + 8

    def x_label(text, anchor, colour=TEXT):
        # anchor: 0 = left end of the axis, 0.5 = centred, 1 = right end
        width = cv2.getTextSize(text, FONT, TICK_SCALE, 1)[0][0]
        tick(text, (int(round(x0 + anchor * (x1 - x0 - width))), baseline), colour)

    if x_hi > x_lo:
        x_label(_fmt(x_lo), 0.0)
        x_label(_fmt(x_hi), 1.0)
        x_label("epoch", 0.5, AXES)
    else:
        x_label(f"epoch {_fmt(x_lo)}", 0.5)

    inset = 4  # keep the line off the frame so extremes stay visible
    # One epoch has no x range: put its dot in the middle.
    x_span = (x - x_lo) / (x_hi - x_lo) if x_hi > x_lo else np.full_like(x, 0.5)
    px = np.round(x0 + inset + x_span * (x1 - x0 - 2 * inset))
    py = np.round(y1 - inset - (y - y_lo) / (y_hi - y_lo) * (y1 - y0 - 2 * inset))
    points = np.stack([px[finite], py[finite]], axis=1).astype(np.int32)
    if len(points) == 1:
        cv2.circle(canvas, tuple(int(v) for v in points[0]), 3, LINE, -1, cv2.LINE_AA)
    else:
        cv2.polylines(canvas, [points], False, LINE, 2, cv2.LINE_AA)


def plot_history(csv_path, png_path, *, columns=None):
    """Draw every numeric metric of a run's ``history.csv`` as a grid of line charts.

    One ``PANEL_WIDTH`` x ``PANEL_HEIGHT`` panel per metric, ``GRID_COLUMNS`` panels per row,
    x = the ``epoch`` column (the row number when there is none), y labelled with its finite
    min and max. Non-finite values are left out and the line joins the finite ones, because
    the periodic evaluation callback logs NaN on the epochs it does not evaluate; a metric
    with a single finite value is drawn as a dot. Columns that are not numbers, or hold no
    finite value (such as the empty ``val_*`` columns of files Keras's CSVLogger wrote), are
    skipped.

    Args:
        csv_path: the history CSV.
        png_path: where to write the PNG (atomically).
        columns: metric names to draw, in this order; default every column but ``epoch``.

    Returns:
        ``png_path``.
    """
    csv_path, png_path = os.fspath(csv_path), os.fspath(png_path)
    header, rows = _read_history(csv_path)
    # Short rows (a run killed mid-write) read as missing values rather than an error.
    table = {
        name: [row[i] if i < len(row) else "" for row in rows] for i, name in enumerate(header)
    }

    if columns is None:
        names = [name for name in header if name != "epoch"]
    else:
        names = list(columns)
        unknown = [name for name in names if name not in table]
        if unknown:
            raise UserInputError(
                f"{csv_path!r} has no column {', '.join(map(repr, unknown))}; "
                f"choose from {', '.join(n for n in header if n != 'epoch')}"
            )

    epochs = _numeric(table["epoch"]) if "epoch" in table else None
    x = epochs if epochs is not None else np.arange(len(rows), dtype=np.float64)

    series = []
    for name in names:
        y = _numeric(table[name])
        if y is not None and np.any(np.isfinite(y) & np.isfinite(x)):
            series.append((name, y))
    if not series:
        raise UserInputError(
            f"{csv_path!r} has no numeric metric column with a finite value; "
            "pass the history.csv that training writes (epoch, d_loss, g_loss, ...)"
        )

    # Every panel shares the run's epoch range, so metrics logged only some epochs line up.
    x_lo, x_hi = float(np.min(x[np.isfinite(x)])), float(np.max(x[np.isfinite(x)]))
    grid_columns = min(GRID_COLUMNS, len(series))
    grid_rows = math.ceil(len(series) / grid_columns)
    canvas = np.full((grid_rows * PANEL_HEIGHT, grid_columns * PANEL_WIDTH, 3), WHITE, np.uint8)
    for i, (name, y) in enumerate(series):
        r, c = divmod(i, grid_columns)
        _draw_panel(canvas, r * PANEL_HEIGHT, c * PANEL_WIDTH, name, x, y, x_lo, x_hi)
    write_png(png_path, canvas)
    return png_path
