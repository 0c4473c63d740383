"""Axioms and sanity checks of smlab's attribution methods (analysis/explain.h), through
tests/tools/explain_probe.cpp:

  completeness    integrated gradients (Gauss-Legendre) sum, per row, to f(x)[t] - f(0)[t]
                  (Sundararajan et al. 2017): within 1% at 64 steps for the LSTM forecaster (per
                  time step; a smooth model). For ReLU nets with random weights, 64 steps are not
                  enough for 1% on every row (measured: 1.7% on one row of a ResNet-18 with random
                  BatchNorm statistics and biases, 2.4% on an MLP row whose f(x) - f(0) is -0.03;
                  the kinks along the path slow the quadrature down, and Captum gives the same
                  numbers): there 64 steps must be within 5% and 256 steps within 1%. (The bias-free
                  ResNet-20 at its initialisation is exactly linear along the path, so it is no test.)
  randomisation   re-initialising the top layers (the last stage and the classifier) changes the
                  maps: Spearman rank correlation below 0.5 between the maps before and after,
                  for Grad-CAM and integrated gradients (Adebayo et al. 2018), while the same
                  weights give the same map (correlation 1) so that the measure can fail;
  padding         a padded token's attribution is exactly 0 (integrated gradients and
                  gradient x input at the embeddings of the TextCNN and the BiLSTM), and real
                  tokens' are not;
  seeding         SmoothGrad with the same seed gives the same map, another seed another one;
  bad layer       an unknown Grad-CAM layer is an error that lists the valid layers.

Models use their own seeded initialisation (no reference weights needed). Exits 77 (skipped)
when SMLAB_EXPLAIN_PROBE is unset.
"""
import sys
import unittest

try:
    import torch
    import torchvision.models as tvm

    import explain_common as ec
    import parity_common
except ImportError as e:  # pragma: no cover
    print(f"skipping: {e}")
    sys.exit(77)


def spearman(a, b):
    """Rank correlation of two flattened maps (ties broken by position)."""
    ra = a.flatten().argsort().argsort().double()
    rb = b.flatten().argsort().argsort().double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return (ra @ rb / (ra.norm() * rb.norm())).item()


class Axioms(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.probe = ec.Probe()
        torch.manual_seed(3)
        img = torch.rand(2, 3, 32, 32) * 2 - 1
        feats = torch.randn(3, 16)
        series = torch.randn(2, 24, 1)
        ids = ec.token_ids([9, 5], 12, 100, 7)
        resnet18 = parity_common.randomize(tvm.resnet18(num_classes=10), 31).eval()
        text = [("text_cnn", ["vocab_size=100", "embed_dim=16", "filters=8"]),
                ("bilstm", ["vocab_size=100", "embed_dim=16", "hidden=8"])]
        jobs = {
            "ig resnet18": dict(x=img, model="resnet18", classes=10, method="integrated_gradients", steps=64,
                                target=[1, 6], ref=resnet18),
            "ig resnet18 256": dict(x=img, model="resnet18", classes=10, method="integrated_gradients", steps=256,
                                    target=[1, 6], ref=resnet18),
            "ig resnet20": dict(x=img, model="resnet20", classes=10, method="integrated_gradients", steps=64,
                                target=[1, 6]),
            "ig mlp": dict(x=feats, model="mlp", classes=4, method="integrated_gradients", steps=64, target=[0, 2, 3]),
            "ig mlp 256": dict(x=feats, model="mlp", classes=4, method="integrated_gradients", steps=256,
                               target=[0, 2, 3]),
            "ig forecaster": dict(x=series, model="lstm_forecaster", classes=2, method="integrated_gradients", steps=64,
                                  target=[0, 1]),
            "cam": dict(x=img, model="resnet20", classes=10, method="grad_cam", layer="layer3", target=[1, 6]),
            "cam again": dict(x=img, model="resnet20", classes=10, method="grad_cam", layer="layer3", target=[1, 6]),
            "cam random": dict(x=img, model="resnet20", classes=10, method="grad_cam", layer="layer3", target=[1, 6],
                               reinit=["layer3", "fc"]),
            "ig random": dict(x=img, model="resnet20", classes=10, method="integrated_gradients", steps=64,
                              target=[1, 6], reinit=["layer3", "fc"]),
            "bad layer": dict(x=img, model="resnet20", classes=10, method="grad_cam", layer="layer9", target=[1, 6]),
            "sg": dict(x=img, model="resnet20", classes=10, method="smoothgrad", samples=4, seed=5, target=[1, 6]),
            "sg again": dict(x=img, model="resnet20", classes=10, method="smoothgrad", samples=4, seed=5, target=[1, 6]),
            "sg seed": dict(x=img, model="resnet20", classes=10, method="smoothgrad", samples=4, seed=6, target=[1, 6]),
        }
        for model, opts in text:
            for method in ("layer_integrated_gradients", "layer_input_x_gradient"):
                jobs[f"{method} {model}"] = dict(x=ids, model=model, classes=3, options=opts, method=method,
                                                 layer="embedding", steps=32, target=[0, 2])
        cls.ids = ids
        cls.keys = list(jobs)
        run = []
        for job in jobs.values():
            run.append(dict(job, ref=job.get("ref")))
        cls.answers = dict(zip(cls.keys, cls.probe.run(run)))

    @classmethod
    def tearDownClass(cls):
        cls.probe.cleanup()

    def got(self, key):
        a, ans = self.answers[key]
        self.assertIsNotNone(a, f"{key}: probe failed: {ans.get('error')}")
        return a, ans

    def test_completeness(self):
        bounds = {"ig forecaster": 0.01, "ig resnet18": 0.05, "ig resnet18 256": 0.01, "ig mlp": 0.05,
                  "ig mlp 256": 0.01}
        for key, bound in bounds.items():
            a, ans = self.got(key)
            out, base = torch.tensor(ans["outputs"]), torch.tensor(ans["baseline_outputs"])
            for i, t in enumerate(ans["target"]):
                want = (out[i, t] - base[i, t]).item()
                total = a[i].sum().item()
                self.assertGreater(abs(want), 1e-4, f"{key} row {i}: f(x) = f(0); completeness says nothing")
                err = abs(total - want) / abs(want)
                print(f"  {key} row {i}: sum {total:.6f}, f(x)-f(0) {want:.6f}, error {100 * err:.3f}%")
                self.assertLessEqual(err, bound, f"{key} row {i}: attributions sum to {total}, not {want}")

    def test_randomisation(self):
        for key, again, random in (("cam", "cam again", "cam random"), ("ig resnet20", None, "ig random")):
            a, _ = self.got(key)
            r, _ = self.got(random)
            if again:
                self.assertAlmostEqual(spearman(a[0], self.got(again)[0][0]), 1.0, places=6)
            for i in range(a.shape[0]):
                rho = spearman(a[i], r[i])
                print(f"  {key} row {i}: rank correlation after re-initialising layer3 + fc: {rho:.3f}")
                self.assertLess(rho, 0.5, f"{key} row {i}: the map survives re-initialising the top layers")

    def test_padding_is_zero(self):
        pad = self.ids == 0
        for key in self.keys:
            if not key.startswith("layer_"):
                continue
            a, _ = self.got(key)
            per_token = a.sum(-1)
            self.assertTrue(bool((per_token[pad] == 0).all()), f"{key}: padded tokens get {per_token[pad]}")
            self.assertTrue(bool((per_token[~pad] != 0).any()), f"{key}: every real token got 0")

    def test_unknown_layer_lists_valid_layers(self):
        a, ans = self.answers["bad layer"]
        self.assertIsNone(a)
        self.assertIn("unknown layer 'layer9'", ans["error"])
        self.assertIn("(valid layers: layer1, layer2, layer3)", ans["error"])

    def test_smoothgrad_seeded(self):
        a, b, c = (self.got(k)[0] for k in ("sg", "sg again", "sg seed"))
        self.assertTrue(torch.equal(a, b), "smoothgrad with the same seed differs")
        self.assertGreater((a - c).abs().max().item(), 0, "smoothgrad ignores its seed")


if __name__ == "__main__":
    if not ec.PROBE:
        print("skipping: SMLAB_EXPLAIN_PROBE is not set")
        sys.exit(77)
    unittest.main(verbosity=2)
