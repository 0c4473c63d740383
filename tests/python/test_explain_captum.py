"""smlab's attribution methods (analysis/explain.h) against Captum 0.9 on the same weights.

For a ResNet (torchvision resnet18), an R3D (torchvision r3d_18), the TextCNN and the BiLSTM (max
and attention pooling; references in explain_common.py): seeded random weights are imported by
name, strictly, into the smlab model (tests/tools/explain_probe.cpp), and then

  Grad-CAM          = Captum LayerGradCam(relu_attributions=True) at layer4 (ResNet, R3D) and
                      at the TextCNN's second convolution,
  integrated grads  = Captum IntegratedGradients (pixels; zero baseline) or
                      LayerIntegratedGradients at the token embeddings (all-padding baseline),
                      Gauss-Legendre rule, the same number of steps,
  gradient x input  = Captum InputXGradient (pixels) or LayerGradientXActivation (embeddings),

each within max |smlab - Captum| / max |Captum| <= 1e-4 in float32 on the CPU, with per-row
targets that differ between rows. The BiLSTM has no convolutional layer: no Grad-CAM there
(docs/interpretability.md). Before any attribution, the probe's logits must equal the reference's
(1e-5), so that a wrong reference cannot make a comparison pass.

Exits 77 (skipped) when SMLAB_EXPLAIN_PROBE is unset or captum/torchvision cannot be imported.
"""
import sys
import unittest

try:
    import torch
    import torchvision.models as tvm
    import torchvision.models.video as tvv
    from captum.attr import (InputXGradient, IntegratedGradients, LayerGradCam, LayerGradientXActivation,
                             LayerIntegratedGradients)

    import explain_common as ec
    import parity_common
except ImportError as e:  # pragma: no cover
    print(f"skipping: {e}")
    sys.exit(77)

TOL = 1e-4
LOGIT_TOL = 1e-5
IG_STEPS = 16


def image_cases():
    torch.manual_seed(0)
    resnet = parity_common.randomize(tvm.resnet18(num_classes=10), 11).eval()
    r3d = parity_common.randomize(tvv.r3d_18(num_classes=5), 12).eval()
    return {
        "resnet18": (resnet, "resnet18", torch.randn(2, 3, 64, 64), [3, 7], resnet.layer4, [], 10),
        "r3d_18": (r3d, "r3d_18", torch.randn(2, 3, 4, 32, 32), [1, 4], r3d.layer4, [], 5),
    }


def text_cases():
    torch.manual_seed(1)
    cnn = ec.randomize_all(ec.TextCNN(50, 16, [2, 3], 8, 3), 21).eval()
    lstm = ec.randomize_all(ec.BiLSTM(50, 16, 8, 3), 22).eval()
    att = ec.randomize_all(ec.BiLSTM(50, 16, 8, 3, pooling="attention", attention_dim=8), 23).eval()
    ids = ec.token_ids([10, 6, 3], 12, 50, 5)
    cnn_opts = ["vocab_size=50", "embed_dim=16", "kernel_sizes=[2, 3]", "filters=8"]
    lstm_opts = ["vocab_size=50", "embed_dim=16", "hidden=8"]
    return {
        "text_cnn": (cnn, "text_cnn", ids, [0, 2, 1], cnn_opts),
        "bilstm": (lstm, "bilstm", ids, [2, 0, 1], lstm_opts),
        "bilstm attention": (att, "bilstm", ids, [1, 1, 0], lstm_opts + ["pooling=attention", "attention_dim=8"]),
    }


class CaptumOracle(unittest.TestCase):
    results = {}

    @classmethod
    def setUpClass(cls):
        cls.probe = ec.Probe()
        cls.images, cls.texts = image_cases(), text_cases()
        jobs, cls.keys = [], []
        for name, (ref, model, x, t, _, opts, classes) in cls.images.items():
            for method in ("grad_cam", "integrated_gradients", "input_x_gradient"):
                jobs.append(dict(ref=ref, x=x, model=model, classes=classes, options=opts, method=method,
                                 layer="layer4", steps=IG_STEPS, target=t))
                cls.keys.append((name, method))
        for name, (ref, model, x, t, opts) in cls.texts.items():
            methods = [("layer_integrated_gradients", "embedding"), ("layer_input_x_gradient", "embedding")]
            if name == "text_cnn":
                methods.append(("grad_cam", "convs.1"))
            for method, layer in methods:
                jobs.append(dict(ref=ref, x=x, model=model, classes=3, options=opts, method=method, layer=layer,
                                 steps=IG_STEPS, target=t))
                cls.keys.append((name, method))
        cls.answers = dict(zip(cls.keys, cls.probe.run(jobs)))

    @classmethod
    def tearDownClass(cls):
        cls.probe.cleanup()
        for (name, method), rel in sorted(cls.results.items()):
            print(f"  {name:18s} {method:28s} max rel. error vs Captum {rel:.2e}")

    def answer(self, name, method, ref, x):
        got, ans = self.answers[(name, method)]
        self.assertIsNotNone(got, f"{name} {method}: probe failed: {ans.get('error')}")
        with torch.no_grad():
            want = ref(x)
        logits = torch.tensor(ans["outputs"], dtype=torch.float32)
        self.assertLessEqual(ec.rel_error(logits, want), LOGIT_TOL, f"{name}: smlab logits differ from the reference")
        return got

    def compare(self, name, method, got, want):
        self.assertEqual(list(got.shape), list(want.shape), f"{name} {method}: shape")
        self.assertGreater(want.abs().max().item(), 0, f"{name} {method}: Captum's attributions are all zero")
        rel = ec.rel_error(got, want.detach())
        CaptumOracle.results[(name, method)] = rel
        self.assertLessEqual(rel, TOL, f"{name} {method}: max relative error {rel:.3e} > {TOL}")

    def check_image(self, name):
        ref, _, x, t, layer, _, _ = self.images[name]
        target = torch.tensor(t)
        want = {
            "grad_cam": LayerGradCam(ref, layer).attribute(x, target=target, relu_attributions=True),
            "integrated_gradients": IntegratedGradients(ref).attribute(
                x, baselines=torch.zeros_like(x), target=target, n_steps=IG_STEPS, method="gausslegendre"),
            "input_x_gradient": InputXGradient(ref).attribute(x.clone().requires_grad_(), target=target),
        }
        for method, w in want.items():
            self.compare(name, method, self.answer(name, method, ref, x), w)

    def check_text(self, name):
        ref, _, ids, t, _ = self.texts[name]
        target = torch.tensor(t)
        want = {
            "layer_integrated_gradients": LayerIntegratedGradients(ref, ref.embedding).attribute(
                ids, baselines=torch.zeros_like(ids), target=target, n_steps=IG_STEPS, method="gausslegendre"),
            "layer_input_x_gradient": LayerGradientXActivation(ref, ref.embedding).attribute(ids, target=target),
        }
        if name == "text_cnn":
            want["grad_cam"] = LayerGradCam(ref, ref.convs[1]).attribute(ids, target=target, relu_attributions=True)
        for method, w in want.items():
            self.compare(name, method, self.answer(name, method, ref, ids), w)

    def test_resnet18(self):
        self.check_image("resnet18")

    def test_r3d_18(self):
        self.check_image("r3d_18")

    def test_text_cnn(self):
        self.check_text("text_cnn")

    def test_bilstm(self):
        self.check_text("bilstm")

    def test_bilstm_attention(self):
        self.check_text("bilstm attention")


if __name__ == "__main__":
    if not ec.PROBE:
        print("skipping: SMLAB_EXPLAIN_PROBE is not set")
        sys.exit(77)
    unittest.main(verbosity=2)
