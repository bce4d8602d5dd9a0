"""A tiny PNG writer (zlib + struct) and a grouped bar chart: no imaging library needed.

Pillow is not a dependency of the project, so the chart is drawn into an RGB byte buffer here.
It carries no text (no font): the legend and the numbers are in the markdown beside it.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

Color = tuple[int, int, int]

WHITE: Color = (255, 255, 255)
AXIS: Color = (96, 96, 96)
GRID_LINE: Color = (230, 230, 230)


def encode_png(width: int, height: int, rgb: bytes) -> bytes:
    """An 8-bit RGB PNG of ``rgb`` (rows top to bottom, 3 bytes a pixel)."""
    if len(rgb) != width * height * 3:
        raise ValueError("pixel buffer does not match the image size")
    stride = width * 3
    raw = b"".join(b"\x00" + rgb[row * stride : (row + 1) * stride] for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


class Canvas:
    """An RGB pixel buffer with filled rectangles."""

    def __init__(self, width: int, height: int, background: Color = WHITE) -> None:
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(background) * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        """Fill ``[x0, x1) × [y0, y1)``, clipped to the canvas."""
        x0, x1 = max(0, x0), min(self.width, x1)
        y0, y1 = max(0, y0), min(self.height, y1)
        if x0 >= x1 or y0 >= y1:
            return
        line = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start : start + len(line)] = line

    def png(self) -> bytes:
        return encode_png(self.width, self.height, bytes(self.pixels))


def bar_chart(
    groups: Sequence[Sequence[int]],
    colors: Sequence[Color],
    *,
    width: int = 640,
    height: int = 320,
) -> bytes:
    """Grouped bars (one group per grid, one bar per series) scaled to the largest value."""
    canvas = Canvas(width, height)
    margin = 24
    base = height - margin
    top = margin
    peak = max((value for group in groups for value in group), default=0) or 1
    for step in range(1, 5):  # light guide lines at quarters of the peak
        y = base - (base - top) * step // 4
        canvas.rect(margin, y, width - margin, y + 1, GRID_LINE)
    canvas.rect(margin, base, width - margin, base + 2, AXIS)
    canvas.rect(margin, top, margin + 2, base, AXIS)
    if groups:
        slot = (width - 2 * margin - 4) / len(groups)
        bar = max(1, int(slot * 0.8 / max(1, len(colors))))
        for index, group in enumerate(groups):
            x = int(margin + 4 + index * slot + slot * 0.1)
            for series, value in enumerate(group):
                bar_height = round((base - top) * value / peak)
                color = colors[series % len(colors)]
                canvas.rect(
                    x + series * bar, base - bar_height, x + (series + 1) * bar, base, color
                )
    return canvas.png()
