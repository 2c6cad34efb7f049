#!/usr/bin/env bash
# Renders the demo stories' drawings (web/assets/demo/*.svg) as WebP files of the widths pages
# list in a lead image's srcset (web/assets/demo/<name>-<width>.webp). The files are committed;
# run this only after changing a drawing:
#     scripts/make-demo-images.sh
# Needs rsvg-convert (Debian: librsvg2-bin) and cwebp (Debian: webp). The widths must match
# kDemoImageWidths in src/app/demo_content.h; tests/site/assets_test.cc checks the files.
set -euo pipefail

widths=(480 960 1440)
quality=80
dir=$(cd "$(dirname "$0")/../web/assets/demo" && pwd)
for tool in rsvg-convert cwebp; do
  command -v "$tool" >/dev/null ||
    { echo "make-demo-images: $tool not found (apt-get install librsvg2-bin webp)" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for svg in "$dir"/*.svg; do
  name=$(basename "$svg" .svg)
  for width in "${widths[@]}"; do
    rsvg-convert --width "$width" --keep-aspect-ratio --background-color white \
      --output "$tmp/$name-$width.png" "$svg"
    cwebp -quiet -metadata none -q "$quality" "$tmp/$name-$width.png" -o "$dir/$name-$width.webp"
  done
done
