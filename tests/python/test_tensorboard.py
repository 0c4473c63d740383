"""Oracle test for smlab::TensorBoardWriter: runs smlab_tb_probe (tests/tools/tb_probe.cpp) into a
temporary folder and reads the events back with tensorboard's own EventAccumulator.

Run by CTest with SMLAB_TB_PROBE set; exits 77 (skipped) when SMLAB_TB_PROBE is unset or
tensorboard / PIL / numpy cannot be imported, 1 on any failure.
"""
import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

PROBE = os.environ.get("SMLAB_TB_PROBE", "")

try:
    import numpy as np
    from PIL import Image
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
except ImportError as e:  # pragma: no cover
    print(f"skipping: {e}")
    sys.exit(77)


def expected_image():
    """The probe's 8x8 RGB gradient, as HWC uint8: R = 32x, G = 32y, B = 255 - 16(x + y)."""
    img = np.zeros((8, 8, 3), dtype=np.uint8)
    for y in range(8):
        for x in range(8):
            img[y, x] = (32 * x, 32 * y, 255 - 16 * (x + y))
    return img


def read_records(path):
    """Splits a TFRecord file into payloads, checking both masked CRC32Cs of every record."""
    records = []
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        assert pos + 12 <= len(data), f"truncated record header at byte {pos}"
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        assert header_crc == masked_crc32c(header), f"bad length crc at byte {pos}"
        start = pos + 12
        end = start + length
        assert end + 4 <= len(data), f"truncated record at byte {pos}"
        payload = data[start:end]
        (data_crc,) = struct.unpack("<I", data[end:end + 4])
        assert data_crc == masked_crc32c(payload), f"bad data crc at byte {pos}"
        records.append(payload)
        pos = end + 4
    return records


class TensorBoardWriterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.logdir = tempfile.mkdtemp(prefix="smlab_tb_")
        out = subprocess.run([PROBE, cls.logdir], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"probe failed ({out.returncode}): {out.stdout}{out.stderr}"
        files = os.listdir(cls.logdir)
        assert len(files) == 1, f"expected one event file, got {files}"
        cls.event_file = os.path.join(cls.logdir, files[0])
        cls.acc = ea.EventAccumulator(
            cls.logdir,
            size_guidance={
                ea.COMPRESSED_HISTOGRAMS: 0,
                ea.IMAGES: 0,
                ea.AUDIO: 0,
                ea.SCALARS: 0,
                ea.HISTOGRAMS: 0,
                ea.TENSORS: 0,
            },
        )
        cls.acc.Reload()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.logdir, ignore_errors=True)

    def test_file_name_and_framing(self):
        name = os.path.basename(self.event_file)
        self.assertTrue(name.startswith("events.out.tfevents."), name)
        self.assertTrue(name.endswith(".smlab"), name)
        parts = name.split(".")
        self.assertTrue(parts[3].isdigit(), name)  # unix time
        records = read_records(self.event_file)
        # file_version + text + 2 x 10 scalars + histogram + image
        self.assertEqual(len(records), 24)
        first = event_pb2.Event.FromString(records[0])
        self.assertEqual(first.file_version, "brain.Event:2")
        self.assertGreater(first.wall_time, 1.6e9)
        for r in records[1:]:
            ev = event_pb2.Event.FromString(r)
            self.assertEqual(len(ev.summary.value), 1)
            self.assertGreaterEqual(ev.wall_time, first.wall_time)

    def test_tags(self):
        tags = self.acc.Tags()
        self.assertEqual(sorted(tags[ea.SCALARS]), ["loss", "lr"])
        self.assertEqual(tags[ea.HISTOGRAMS], ["weights"])
        self.assertEqual(tags[ea.IMAGES], ["sample"])
        self.assertEqual(tags[ea.TENSORS], ["note"])
        self.assertEqual(self.acc.file_version, 2.0)

    def test_scalars(self):
        for tag, fn in (("loss", lambda s: 1.0 / (s + 1)), ("lr", lambda s: 0.1 * s)):
            events = self.acc.Scalars(tag)
            self.assertEqual([e.step for e in events], list(range(10)), tag)
            for e in events:
                expected = float(np.float32(fn(e.step)))
                self.assertEqual(e.value, expected, f"{tag} step {e.step}")  # exact float32 round trip
                self.assertAlmostEqual(e.value, fn(e.step), delta=1e-6 * max(1.0, abs(fn(e.step))))

    def test_histogram(self):
        events = self.acc.Histograms("weights")
        self.assertEqual(len(events), 1)
        h = events[0].histogram_value
        self.assertEqual(events[0].step, 3)
        self.assertEqual(h.min, 0.0)
        self.assertEqual(h.max, 99.0)
        self.assertEqual(h.num, 100.0)
        self.assertEqual(h.sum, 4950.0)
        self.assertEqual(h.sum_squares, float(sum(i * i for i in range(100))))
        self.assertEqual(len(h.bucket_limit), 30)
        self.assertEqual(len(h.bucket), 30)
        self.assertEqual(sum(h.bucket), 100.0)
        self.assertEqual(h.bucket_limit[-1], 99.0)
        self.assertEqual(list(h.bucket_limit), sorted(h.bucket_limit))
        # Each bucket counts the values in (previous limit, limit] (the first also takes min);
        # equal-width buckets: value v lands in floor((v - min) / width), the last one keeps max.
        width = 99.0 / 30
        expected = [0] * 30
        for v in range(100):
            expected[min(29, int(v / width))] += 1
        self.assertEqual([int(c) for c in h.bucket], expected)

    def test_image(self):
        events = self.acc.Images("sample")
        self.assertEqual(len(events), 1)
        img = events[0]
        self.assertEqual(img.step, 1)
        self.assertEqual((img.width, img.height), (8, 8))
        decoded = Image.open(io.BytesIO(img.encoded_image_string))
        self.assertEqual(decoded.format, "PNG")
        self.assertEqual(decoded.mode, "RGB")
        pixels = np.asarray(decoded)
        np.testing.assert_array_equal(pixels, expected_image())

    def test_text(self):
        events = self.acc.Tensors("note")
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0].step, 0)
        proto = events[0].tensor_proto
        self.assertEqual(proto.dtype, 7)  # DT_STRING
        self.assertEqual([d.size for d in proto.tensor_shape.dim], [1])
        self.assertEqual(list(proto.string_val), [b"hello smlab"])
        meta = self.acc.SummaryMetadata("note")
        self.assertEqual(meta.plugin_data.plugin_name, "text")
        self.assertEqual(self.acc.PluginTagToContent("text"), {"note": b""})


if __name__ == "__main__":
    if not PROBE:
        print("skipping: SMLAB_TB_PROBE is not set; run through ctest")
        sys.exit(77)
    if not os.path.isfile(PROBE):
        print(f"FAIL: SMLAB_TB_PROBE={PROBE} does not exist; build the smlab_tb_probe target")
        sys.exit(1)
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
