"""`smlab report` pages in a real browser: Debian's chromium renders each kind of report headless.

For a run (with eval and calibration), a sweep, a segment output and a forecast-eval output:
  * the screenshot (PNG) is not blank: its pixels vary (a blank or error page is one colour);
  * the DOM chromium built (--dump-dom) holds every section id the HTML declares, and inline SVGs;
  * the page makes no network request: chromium runs with a proxy that does not exist
    (--proxy-server=127.0.0.1:9, so any http(s) fetch would fail), the page's Content-Security-Policy
    is default-src 'none', and the HTML has no external URL in src/href.
Skips (exit 77) with a message when chromium is absent (scripts/install_deps.sh installs it).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import report_common as rc  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(*args, tmp):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
           "--proxy-server=127.0.0.1:9", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-extensions", "--user-data-dir=%s" % (tmp / "profile")] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


def png_pixels(path):
    """Grey levels of a PNG (Pillow when present, else a stdlib decoder for 8-bit RGB/RGBA)."""
    try:
        from PIL import Image
        img = Image.open(path).convert("L")
        return list(img.tobytes())
    except ImportError:
        import struct
        import zlib
        data = Path(path).read_bytes()
        pos, idat, w, h, ctype = 8, b"", 0, 0, 0
        while pos < len(data):
            n, kind = struct.unpack(">I4s", data[pos:pos + 8])
            body = data[pos + 8:pos + 8 + n]
            if kind == b"IHDR":
                w, h, _, ctype = struct.unpack(">IIBB", body[:10])
            elif kind == b"IDAT":
                idat += body
            pos += 12 + n
        bpp = 4 if ctype == 6 else 3
        raw, out, prev = zlib.decompress(idat), [], bytearray(w * bpp)
        stride = w * bpp + 1
        for y in range(h):
            f, line = raw[y * stride], bytearray(raw[y * stride + 1:(y + 1) * stride])
            for i in range(len(line)):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pred = [0, a, b, (a + b) // 2, a if abs(p - a) <= min(abs(p - b), abs(p - c)) else (b if abs(p - b) <= abs(p - c) else c)][f]
                line[i] = (line[i] + pred) & 255
            out.extend(sum(line[i:i + 3]) // 3 for i in range(0, len(line), bpp))
            prev = line
        return out


class ReportBrowser(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="smlab_report_browser_"))
        cls.pages = {"run": rc.image_run(cls.tmp), "sweep": rc.sweep(cls.tmp), "segment": rc.segment(cls.tmp),
                     "forecast": rc.forecast(cls.tmp)}
        for p in cls.pages.values():
            rc.smlab("report", p)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_pages_render(self):
        for kind, folder in self.pages.items():
            with self.subTest(kind=kind):
                html = (folder / "report.html").read_text()
                self.assertIsNone(re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:|//|ftp:)", html, re.I))
                self.assertIn("default-src 'none'", html)
                url = (folder / "report.html").resolve().as_uri()
                shot = self.tmp / ("%s.png" % kind)
                p = chromium("--screenshot=%s" % shot, "--window-size=1280,1600", url, tmp=self.tmp)
                self.assertTrue(shot.exists(), p.stderr[-2000:])
                px = png_pixels(shot)
                mean = sum(px) / len(px)
                var = sum((v - mean) ** 2 for v in px) / len(px)
                dark = sum(1 for v in px if v < 128) / len(px)
                self.assertGreater(var, 100.0, "%s: the screenshot is blank" % kind)
                self.assertGreater(dark, 0.005, "%s: no text or lines drawn" % kind)
                dom = chromium("--dump-dom", url, tmp=self.tmp).stdout
                ids = rc.Parsed(html).sections
                self.assertTrue(ids)
                for sid in ids:
                    self.assertIn('<section id="%s"' % sid, dom, "%s: section %s not in the DOM" % (kind, sid))
                self.assertGreaterEqual(dom.count("<svg"), 1)


if __name__ == "__main__":
    if not CHROMIUM:
        print("SKIP: chromium is not installed (scripts/install_deps.sh installs Debian's chromium)")
        sys.exit(77)
    rc.require_binary()
    unittest.main()
