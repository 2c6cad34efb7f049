#!/usr/bin/env python3
"""Draws the site's PNG icons from the shapes of web/assets/icon.svg.

The PNGs are committed (web/assets/icon-*.png); run this only after changing the icon:
    python3 scripts/make-icons.py
Standard library only: a small anti-aliased rasteriser (4x4 samples per pixel) and a PNG
writer, so no image tool has to be installed.
"""
import pathlib
import struct
import zlib

RED = (0xA3, 0x10, 0x1D)
WHITE = (0xFF, 0xFF, 0xFF)
# The "F" of icon.svg's path "M20 14h26v8H29v8h14v8H29v12h-9z", in its 64x64 view box.
GLYPH = [(20, 14), (46, 14), (46, 22), (29, 22), (29, 30), (43, 30), (43, 38), (29, 38),
         (29, 50), (20, 50)]
DOT = (47, 46, 5)  # circle cx, cy, r
CORNER = 12  # rounded-rectangle radius


def inside_polygon(x, y, points):
    hit = False
    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1]):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            hit = not hit
    return hit


def inside_rounded_square(x, y, size, radius):
    cx = min(max(x, radius), size - radius)
    cy = min(max(y, radius), size - radius)
    return 0 <= x <= size and 0 <= y <= size and (x - cx) ** 2 + (y - cy) ** 2 <= radius ** 2


def colour_at(x, y, maskable):
    """Colour and alpha at a point of the 64x64 view box."""
    if maskable:
        # Full bleed; the glyph shrunk into the central 80 % safe zone.
        gx, gy = 32 + (x - 32) / 0.8, 32 + (y - 32) / 0.8
        background = True
    else:
        gx, gy = x, y
        background = inside_rounded_square(x, y, 64, CORNER)
    if not background:
        return None
    cx, cy, r = DOT
    if inside_polygon(gx, gy, GLYPH) or (gx - cx) ** 2 + (gy - cy) ** 2 <= r * r:
        return WHITE
    return RED


def draw(size, maskable=False):
    samples = 4
    rows = []
    for py in range(size):
        row = bytearray([0])  # PNG filter: none
        for px in range(size):
            r = g = b = a = 0
            for sy in range(samples):
                for sx in range(samples):
                    x = (px + (sx + 0.5) / samples) * 64 / size
                    y = (py + (sy + 0.5) / samples) * 64 / size
                    c = colour_at(x, y, maskable)
                    if c:
                        r += c[0]
                        g += c[1]
                        b += c[2]
                        a += 1
            n = samples * samples
            if a:
                row += bytes((r // a, g // a, b // a, 255 * a // n))
            else:
                row += bytes((0, 0, 0, 0))
        rows.append(bytes(row))
    return png(size, size, b"".join(rows))


def png(width, height, raw):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main():
    out = pathlib.Path(__file__).resolve().parent.parent / "web" / "assets"
    for name, size, maskable in [("icon-180.png", 180, False), ("icon-192.png", 192, False),
                                 ("icon-512.png", 512, False),
                                 ("icon-maskable-512.png", 512, True)]:
        (out / name).write_bytes(draw(size, maskable))
        print(out / name)


if __name__ == "__main__":
    main()
