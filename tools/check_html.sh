#!/usr/bin/env bash
# Renders gauntlet-demo/report.html in a real headless browser (Debian's chromium) and checks
# that the screenshot is not blank. Writes docs/report-screenshot.png.
#
#   cargo run -p gauntlet-cli -- demo      # writes gauntlet-demo/report.html
#   tools/check_html.sh [path/to/report.html]
#
# Installs chromium with apt-get when it is missing (needs root). Not part of CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
report="${1:-gauntlet-demo/report.html}"
shot=docs/report-screenshot.png
if [ ! -f "$report" ]; then
    echo "error: '$report' does not exist; run 'cargo run -p gauntlet-cli -- demo' first" >&2
    exit 2
fi
if ! command -v chromium >/dev/null 2>&1; then
    echo "installing chromium (apt-get)…" >&2
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
mkdir -p docs
rm -f "$shot"
# --disable-background-networking & co: the page must render with no network at all.
chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
    --hide-scrollbars --screenshot="$shot" --window-size=1200,2000 \
    "file://$(realpath "$report")" 2>/dev/null || true
if [ ! -s "$shot" ]; then
    echo "error: chromium wrote no screenshot" >&2
    exit 1
fi
# Not blank: the decoded PNG must have many distinct colours and a good share of non-white
# pixels (text, plot lines, image grids). Standard library only.
python3 - "$shot" <<'PY'
import struct, sys, zlib

def pixels(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), f"unexpected PNG format {depth}/{colour}"
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * channels
    prev, out = bytearray(stride), []
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out.extend(tuple(line[x:x + 3]) for x in range(0, stride, channels))
        prev = line
    return width, height, out

w, h, px = pixels(sys.argv[1])
colours = len(set(px))
ink = sum(1 for p in px if sum(p) < 600) / len(px)
print(f"screenshot {w}×{h}: {colours} distinct colours, {ink:.1%} non-white pixels")
if colours < 16 or ink < 0.01:
    sys.exit("error: the screenshot looks blank")
PY
echo "ok: $shot"
