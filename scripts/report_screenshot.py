#!/usr/bin/env python3
"""Renders an `smlab report` page with headless chromium and saves a small PNG for the docs.

    python scripts/report_screenshot.py runs/x/report.html docs/img/report_x.png [--section curves] [--height 1400]

--section scrolls to that section id first (a copy of the page with the earlier sections removed is
rendered). The PNG is scaled to --width pixels and reduced to a 256-colour palette so that it stays
small (the docs keep each one under 150 KB). Needs chromium and Pillow."""
import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("html")
    ap.add_argument("png")
    ap.add_argument("--section", default="")
    ap.add_argument("--height", type=int, default=1400)
    ap.add_argument("--width", type=int, default=900)
    a = ap.parse_args()
    chromium = shutil.which("chromium") or sys.exit("chromium is not installed")
    text = Path(a.html).read_text()
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page.html"
        if a.section:  # keep the head and the sections from the wanted one on
            head, _, body = text.partition("<nav class=\"toc\"")
            start = body.find('<section id="%s"' % a.section)
            if start < 0:
                sys.exit("no section %s in %s" % (a.section, a.html))
            text = head + body[start:]
        page.write_text(text)
        shot = Path(tmp) / "shot.png"
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--proxy-server=127.0.0.1:9", "--user-data-dir=%s" % (Path(tmp) / "profile"),
                        "--screenshot=%s" % shot, "--window-size=1280,%d" % a.height, page.as_uri()],
                       check=True, capture_output=True, timeout=120)
        img = Image.open(shot).convert("RGB")
        img = img.resize((a.width, round(img.height * a.width / img.width)), Image.LANCZOS)
        img.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(a.png, optimize=True)
    print("%s: %d KB" % (a.png, Path(a.png).stat().st_size // 1024))


if __name__ == "__main__":
    main()
