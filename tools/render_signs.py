#!/usr/bin/env python3
"""Procedural traffic signs (issue 15): 32x32 RGB images of ten sign classes on street-like
backgrounds, each with the binary mask of the sign's face, for the physical-patch demo.

Every image is drawn at 4x supersampling (128x128) and box-averaged down to 32x32. Per image
(a numpy Generator seeded by (seed, index), so any image can be re-rendered on its own):
a background of smooth colour gradients, low-frequency colour noise and blurred random shapes
(sometimes a sign pole); the sign's face 35-75 % of the image width, squashed 0.8-1.0 across
and 0.9-1.0 down, sheared, rotated +-15 degrees in plane, with a mild perspective (corners moved
up to 4 % of the sign's size), placed anywhere it stays inside the frame; faded sign colours;
brightness, contrast, colour cast and a shading gradient over the whole image; a Gaussian blur
(sigma 0-0.9 px at 32x32) and pixel noise (sigma 0-3 %). The mask is 1 where at least half of
the output pixel lies inside the sign's outer outline, after all geometric transforms.

Classes (index: name): 0 stop, 1 yield, 2 no_entry, 3 speed_limit_30, 4 speed_limit_50,
5 speed_limit_80, 6 priority_road, 7 ahead_only, 8 turn_right, 9 no_parking (see CLASSES).
Text ("STOP", the digits) is set in DejaVu Sans Bold (Debian package fonts-dejavu-core).

    .venv/bin/python tools/render_signs.py            # writes data/signs-demo/ and docs/data/signs-examples.png
    .venv/bin/python tools/render_signs.py --out DIR  # the same files elsewhere

Library use (tools/train_signs.py): `render(n, seed)` -> (x uint8 [n,3,32,32], y int64 [n],
mask uint8 [n,32,32]); labels are balanced (index % 10, shuffled by the seed).
"""
import argparse
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

ROOT = Path(__file__).resolve().parent.parent
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
SIZE = 32          # output side
SUPER = 4          # supersampling factor
BIG = SIZE * SUPER  # drawing side
TEMPLATE = 512     # side of a sign's template (the face spans its full width)

CLASSES = [
    ("stop", "red octagon, thin red rim, white border, white STOP"),
    ("yield", "inverted triangle, red border, white inside"),
    ("no_entry", "red disc with a white horizontal bar"),
    ("speed_limit_30", "white disc, red ring, black 30"),
    ("speed_limit_50", "white disc, red ring, black 50"),
    ("speed_limit_80", "white disc, red ring, black 80"),
    ("priority_road", "yellow diamond, white border, thin black rim"),
    ("ahead_only", "blue disc with a white arrow pointing up"),
    ("turn_right", "blue disc with a white arrow going up, then turning right"),
    ("no_parking", "blue disc, red ring, one red diagonal bar"),
]
NAMES = [name for name, _ in CLASSES]

RED = (200, 20, 40)
WHITE = (245, 245, 245)
BLACK = (20, 20, 20)
BLUE = (0, 80, 160)
YELLOW = (250, 190, 0)


def _fit_font(draw, text, max_w, max_h):
    """The largest DejaVu Sans Bold size whose ink box fits max_w x max_h."""
    size = 8
    while True:
        font = ImageFont.truetype(FONT, size + 4)
        l, t, r, b = draw.textbbox((0, 0), text, font=font)
        if r - l > max_w or b - t > max_h:
            return ImageFont.truetype(FONT, size)
        size += 4


def _text(draw, text, colour, max_w, max_h, centre=(TEMPLATE / 2, TEMPLATE / 2)):
    font = _fit_font(draw, text, max_w, max_h)
    l, t, r, b = draw.textbbox((0, 0), text, font=font)
    draw.text((centre[0] - (l + r) / 2, centre[1] - (t + b) / 2), text, font=font, fill=colour)


def _octagon(apothem, c=TEMPLATE / 2):
    k = apothem * math.tan(math.pi / 8)
    return [(c - k, c - apothem), (c + k, c - apothem), (c + apothem, c - k), (c + apothem, c + k),
            (c + k, c + apothem), (c - k, c + apothem), (c - apothem, c + k), (c - apothem, c - k)]


def _disc(draw, radius, colour, c=TEMPLATE / 2):
    draw.ellipse((c - radius, c - radius, c + radius, c + radius), fill=colour)


def _scaled(points, k, centre):
    cx, cy = centre
    return [(cx + k * (x - cx), cy + k * (y - cy)) for x, y in points]


def _thick_line(draw, p, q, width, colour):
    """A bar from p to q of the given width with square ends."""
    (x0, y0), (x1, y1) = p, q
    dx, dy = x1 - x0, y1 - y0
    n = math.hypot(dx, dy)
    ox, oy = -dy / n * width / 2, dx / n * width / 2
    draw.polygon([(x0 + ox, y0 + oy), (x1 + ox, y1 + oy), (x1 - ox, y1 - oy), (x0 - ox, y0 - oy)], fill=colour)


def template(cls):
    """One class's sign as an RGBA image TEMPLATE x TEMPLATE (alpha: the face's outer outline)."""
    img = Image.new("RGBA", (TEMPLATE, TEMPLATE), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    c = TEMPLATE / 2
    R = TEMPLATE / 2 - 1
    name = NAMES[cls]
    if name == "stop":
        d.polygon(_octagon(R), fill=RED)
        d.polygon(_octagon(R * 0.965), fill=WHITE)
        d.polygon(_octagon(R * 0.89), fill=RED)
        _text(d, "STOP", WHITE, 1.5 * R, 0.62 * R)
    elif name == "yield":
        h = TEMPLATE * math.sqrt(3) / 2
        top = (TEMPLATE - h) / 2
        tri = [(1, top), (TEMPLATE - 1, top), (c, top + h)]
        centroid = (c, top + h / 3)
        d.polygon(tri, fill=RED)
        d.polygon(_scaled(tri, 0.62, centroid), fill=WHITE)
    elif name == "no_entry":
        _disc(d, R, RED)
        d.rectangle((c - 0.76 * R, c - 0.19 * R, c + 0.76 * R, c + 0.19 * R), fill=WHITE)
    elif name.startswith("speed_limit_"):
        _disc(d, R, RED)
        _disc(d, R * 0.8, WHITE)
        _text(d, name.rsplit("_", 1)[1], BLACK, 1.2 * R, 0.95 * R)
    elif name == "priority_road":
        diamond = [(c, 1), (TEMPLATE - 1, c), (c, TEMPLATE - 1), (1, c)]
        d.polygon(diamond, fill=BLACK)
        d.polygon(_scaled(diamond, 0.96, (c, c)), fill=WHITE)
        d.polygon(_scaled(diamond, 0.62, (c, c)), fill=YELLOW)
    elif name == "ahead_only":
        _disc(d, R, BLUE)
        w = 0.22 * R
        d.rectangle((c - w / 2, c - 0.2 * R, c + w / 2, c + 0.72 * R), fill=WHITE)
        d.polygon([(c, c - 0.72 * R), (c + 0.42 * R, c - 0.15 * R), (c - 0.42 * R, c - 0.15 * R)], fill=WHITE)
    elif name == "turn_right":
        _disc(d, R, BLUE)
        w = 0.22 * R
        x, y0, rb = c - 0.3 * R, c, 0.3 * R   # shaft x, where the bend starts, bend radius
        d.rectangle((x - w / 2, y0, x + w / 2, c + 0.72 * R), fill=WHITE)
        bx, by = x + rb, y0                     # centre of the quarter-ring bend
        o, i = rb + w / 2, rb - w / 2
        d.pieslice((bx - o, by - o, bx + o, by + o), 180, 270, fill=WHITE)
        d.pieslice((bx - i, by - i, bx + i, by + i), 180, 270, fill=BLUE)
        ytop = y0 - rb
        d.rectangle((bx - 1, ytop - w / 2, c + 0.3 * R, ytop + w / 2), fill=WHITE)
        d.polygon([(c + 0.75 * R, ytop), (c + 0.25 * R, ytop - 0.4 * R), (c + 0.25 * R, ytop + 0.4 * R)], fill=WHITE)
    elif name == "no_parking":
        _disc(d, R, RED)
        _disc(d, R * 0.8, BLUE)
        k = 0.8 * R / math.sqrt(2)
        _thick_line(d, (c - k, c - k), (c + k, c + k), 0.2 * R, RED)
    else:
        raise ValueError(name)
    return img


def _homography(src, dst):
    """The 3x3 H with H @ (x, y, 1) ~ dst for each of 4 src points."""
    a, b = [], []
    for (x, y), (u, v) in zip(src, dst):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y]); b.append(u)
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y]); b.append(v)
    h = np.linalg.solve(np.array(a, float), np.array(b, float))
    return np.append(h, 1.0).reshape(3, 3)


def _apply(h, pts):
    p = np.c_[pts, np.ones(len(pts))] @ h.T
    return p[:, :2] / p[:, 2:3]


def _gauss_blur_small(img, sigma):
    """Separable Gaussian blur of HxWx3 (reflect padding), for the final 32x32 image."""
    if sigma < 0.05:
        return img
    r = max(1, int(math.ceil(3 * sigma)))
    t = np.arange(-r, r + 1)
    k = np.exp(-t ** 2 / (2 * sigma ** 2)); k /= k.sum()
    p = np.pad(img, ((r, r), (r, r), (0, 0)), mode="reflect")
    tmp = sum(k[i] * p[i:i + img.shape[0], :, :] for i in range(2 * r + 1))
    return sum(k[i] * tmp[:, i:i + img.shape[1], :] for i in range(2 * r + 1))


def background(rng):
    """A street-like 128x128x3 float background in [0, 1]."""
    yy, xx = np.mgrid[0:BIG, 0:BIG] / (BIG - 1)
    palette = rng.integers(0, 3)
    def colour():
        if palette == 0:  # sky / buildings: greys and blues
            g = rng.uniform(0.3, 0.95)
            return np.clip(g + rng.normal(0, 0.08, 3) + np.array([0, 0.02, 0.08]) * rng.uniform(0, 2), 0, 1)
        if palette == 1:  # vegetation / earth
            return np.clip(np.array([rng.uniform(0.1, 0.6), rng.uniform(0.2, 0.7), rng.uniform(0.05, 0.4)]), 0, 1)
        g = rng.uniform(0.1, 0.9)  # anything, at most moderately saturated
        return g + rng.uniform(0.2, 0.8) * (rng.uniform(0, 1, 3) - g)
    angle = rng.uniform(0, 2 * math.pi)
    t = (np.cos(angle) * xx + np.sin(angle) * yy)
    t = (t - t.min()) / (np.ptp(t) + 1e-9)
    c1, c2 = colour(), colour()
    img = c1 * (1 - t[..., None]) + c2 * t[..., None]
    # low-frequency colour noise
    g = int(rng.choice([3, 4, 6, 8]))
    grid = rng.normal(0, rng.uniform(0.03, 0.15), (g, g, 3)).astype(np.float32)
    low = np.stack([np.asarray(Image.fromarray(grid[..., ch]).resize((BIG, BIG), Image.BICUBIC)) for ch in range(3)], -1)
    img = img + low
    # blurred random shapes (buildings, windows, cars, leaves, other signs' colours)
    layer = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
    d = ImageDraw.Draw(layer, "RGBA")
    for _ in range(int(rng.integers(2, 10))):
        g = rng.uniform(0.05, 0.95)
        rgb = np.clip(g + rng.uniform(0.2, 1.0) * (rng.uniform(0, 1, 3) - g), 0, 1)
        col = tuple(int(v) for v in np.round(rgb * 255)) + (int(rng.integers(90, 256)),)
        kind = rng.integers(0, 4)
        x0, y0 = rng.uniform(-20, BIG, 2)
        w, h = rng.uniform(8, 80, 2)
        if kind == 0:
            d.rectangle((x0, y0, x0 + w, y0 + h), fill=col)
        elif kind == 1:
            d.ellipse((x0, y0, x0 + w, y0 + h), fill=col)
        elif kind == 2:
            pts = [tuple(p) for p in rng.uniform(-10, BIG + 10, (int(rng.integers(3, 6)), 2))]
            d.polygon(pts, fill=col)
        else:
            d.line([tuple(rng.uniform(0, BIG, 2)), tuple(rng.uniform(0, BIG, 2))], fill=col, width=int(rng.integers(2, 10)))
    layer = layer.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 5.0)))
    return np.asarray(layer, dtype=np.float32) / 255


TEMPLATES = None


def _templates():
    global TEMPLATES
    if TEMPLATES is None:
        TEMPLATES = [template(k).convert("RGBa") for k in range(len(CLASSES))]
    return TEMPLATES


def render_one(cls, rng):
    """One image (uint8 32x32x3) and its sign mask (uint8 32x32, 0/1)."""
    bg = background(rng)
    # geometry: template square [0,S]^2 -> output quad
    width = rng.uniform(0.35, 0.75) * BIG
    sx = rng.uniform(0.8, 1.0)
    sy = rng.uniform(0.9, 1.0)
    shear = rng.uniform(-0.1, 0.1)
    theta = math.radians(rng.uniform(-15, 15))
    S = max(8, int(round(width * 1.1)))  # template resized (antialiased) a little above the output size
    half = S / 2
    corners = np.array([[0, 0], [S, 0], [S, S], [0, S]], float)
    centred = corners - half
    lin = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]]) @ \
        np.array([[1, shear], [0, 1]]) @ np.diag([sx * width / S, sy * width / S])
    quad = centred @ lin.T + rng.uniform(-0.04, 0.04, (4, 2)) * width
    # keep the whole quad (hence the whole sign) inside the frame, 1 px margin at 32x32
    lo, hi = quad.min(0), quad.max(0)
    margin = SUPER
    cx = rng.uniform(margin - lo[0], BIG - margin - hi[0]) if BIG - margin - hi[0] > margin - lo[0] else BIG / 2
    cy = rng.uniform(margin - lo[1], BIG - margin - hi[1]) if BIG - margin - hi[1] > margin - lo[1] else BIG / 2
    quad = quad + [cx, cy]
    inv = np.linalg.inv(_homography(corners, quad))
    inv = inv / inv[2, 2]
    tmpl = _templates()[cls].resize((S, S), Image.LANCZOS)
    warped = tmpl.transform((BIG, BIG), Image.PERSPECTIVE, tuple(inv.flatten()[:8]), Image.BICUBIC)
    arr = np.asarray(warped, dtype=np.float32) / 255  # RGBa: colour premultiplied by alpha
    alpha = np.clip(arr[..., 3:4], 0, 1)
    sign = np.clip(arr[..., :3], 0, alpha)
    # a sign pole below the sign
    if rng.random() < 0.5:
        pw = max(2, int(width * rng.uniform(0.06, 0.12)))
        px = int(cx + rng.normal(0, 1))
        grey = rng.uniform(0.35, 0.75) + rng.normal(0, 0.03, 3)
        bg[int(cy):, max(0, px - pw // 2):px + pw // 2 + 1] = grey
    # faded / dirty sign colours
    fade = rng.uniform(0.75, 1.05) * rng.uniform(0.9, 1.08, 3)
    sign = sign * fade
    grey = sign.mean(-1, keepdims=True)
    sat = rng.uniform(0.7, 1.0)
    sign = grey + sat * (sign - grey)
    img = sign + bg * (1 - alpha)
    # lighting: shading gradient, contrast, brightness, colour cast
    a = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:BIG, 0:BIG] / (BIG - 1) - 0.5
    img = img * (1 + rng.uniform(0, 0.5) * (np.cos(a) * xx + np.sin(a) * yy))[..., None]
    img = (img - 0.5) * rng.uniform(0.6, 1.2) + 0.5 + rng.uniform(-0.2, 0.15)
    img = img * rng.uniform(0.85, 1.15, 3)
    img = np.clip(img, 0, 1)
    # 4x4 box average = antialiased downsampling
    small = img.reshape(SIZE, SUPER, SIZE, SUPER, 3).mean((1, 3))
    mask = (alpha[..., 0].reshape(SIZE, SUPER, SIZE, SUPER).mean((1, 3)) >= 0.5).astype(np.uint8)
    small = _gauss_blur_small(small, rng.uniform(0, 0.9))
    small = small + rng.normal(0, rng.uniform(0, 0.03), small.shape)
    out = np.clip(np.round(small * 255), 0, 255).astype(np.uint8)
    return out, mask


def render(n, seed):
    """n images, balanced labels: x uint8 [n,3,32,32], y int64 [n], mask uint8 [n,32,32]."""
    k = len(CLASSES)
    y = np.random.default_rng(seed).permutation(np.arange(n) % k).astype(np.int64)
    x = np.empty((n, 3, SIZE, SIZE), np.uint8)
    m = np.empty((n, SIZE, SIZE), np.uint8)
    for i in range(n):
        img, mask = render_one(int(y[i]), np.random.default_rng([seed, i]))
        x[i] = img.transpose(2, 0, 1)
        m[i] = mask
    return x, y, m


def example_grid(x, y, path, count=24, cols=6, zoom=4):
    """The first `count` images, upscaled (nearest), each captioned with its class name."""
    rows = (count + cols - 1) // cols
    cell_w, cell_h = SIZE * zoom + 12, SIZE * zoom + 26
    sheet = Image.new("RGB", (cols * cell_w, rows * cell_h), (255, 255, 255))
    d = ImageDraw.Draw(sheet)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 11)
    for i in range(min(count, len(x))):
        r, c = divmod(i, cols)
        tile = Image.fromarray(x[i].transpose(1, 2, 0)).resize((SIZE * zoom, SIZE * zoom), Image.NEAREST)
        sheet.paste(tile, (c * cell_w + 6, r * cell_h + 4))
        label = NAMES[int(y[i])]
        tw = d.textlength(label, font=font)
        d.text((c * cell_w + (cell_w - tw) / 2, r * cell_h + SIZE * zoom + 7), label, fill=(0, 0, 0), font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, optimize=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "data/signs-demo"), help="folder for the .npy files")
    parser.add_argument("--grid", default=str(ROOT / "docs/data/signs-examples.png"), help="example grid PNG ('' for none)")
    parser.add_argument("--n", type=int, default=500, help="images in the held-out test split")
    parser.add_argument("--train-n", type=int, default=500, help="images in the attacker's split")
    parser.add_argument("--test-seed", type=int, default=2)
    parser.add_argument("--train-seed", type=int, default=3)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for prefix, seed, n in (("", args.test_seed, args.n), ("train_", args.train_seed, args.train_n)):
        x, y, m = render(n, seed)
        np.save(out / f"{prefix}x.npy", x)
        np.save(out / f"{prefix}y.npy", y)
        np.save(out / f"{prefix}sign_mask.npy", m)
        print(f"{prefix or 'test '}split: seed {seed}, x {x.shape} {x.dtype}, per class {np.bincount(y).tolist()}, "
              f"mask share {m.mean():.3f}")
        if prefix == "" and args.grid:
            example_grid(x, y, Path(args.grid))


if __name__ == "__main__":
    main()
