"""Shared machinery of the parity tests (test_torchvision_parity.py, test_video_parity.py).

A case is (smlab model, reference factory, input shape, classes, smlab model options, expected
reference parameter count or None, save the traced reference itself (else a weights carrier)).
run_cases() builds each reference with seeded random weights and randomised BatchNorm affine
parameters and running statistics, computes its eval-mode output on a random input, saves its
parameters and buffers as TorchScript, and runs every job through one smlab_parity_probe
process (tests/tools/parity_probe.cpp), which builds the smlab model by name, imports the weights
strictly and writes its eval-mode output. ParityChecks.check() then asserts equal parameter
counts and max |smlab - reference| / max |reference| <= TOL.

Not a test itself (CTest runs tests/python/test_*.py).
"""
import json
import os
import subprocess
import tempfile

import numpy as np
import torch
import torch.nn as nn

TOL = 1e-5
PROBE = os.environ.get("SMLAB_PARITY_PROBE", "")


def randomize(model, seed):
    """Non-trivial weights everywhere: BatchNorm (2-d and 3-d) affine parameters and running
    statistics are drawn at random so that a swapped or missing buffer changes the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.num_batches_tracked.fill_(7)
            elif isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear)) and m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model


def param_count(model):
    return sum(p.numel() for p in model.parameters())


class _Carrier(nn.Module):
    """Holds a model's parameters and buffers under the same names, with a trivial forward,
    so that the TorchScript file is quick to write and to load (no graph of the model)."""

    def forward(self, x):
        return x


def weights_carrier(model):
    c = _Carrier()
    for name, p in model.named_parameters(recurse=False):
        c.register_parameter(name, p)
    for name, b in model.named_buffers(recurse=False):
        c.register_buffer(name, b)
    for name, child in model.named_children():
        c.add_module(name, weights_carrier(child))
    return c


class ParityRun:
    """The references' outputs and the probe's answers for a dict of cases and of bad cases
    (key -> (smlab model, source case key, classes, expected error fragment)): weights of the
    source case imported (strictly) into another model, which must fail."""

    def __init__(self, cases, bad_cases, sensitivity=False):
        """With `sensitivity`, each reference also runs on a second random input, and check()
        asserts that the outputs differ by far more than the tolerance: a network whose output
        hardly depends on its input (e.g. biases dominating a badly scaled stack) would pass a
        parity check whatever its convolutions do."""
        self.cases = cases
        self.sensitivity = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="smlab_parity_")
        tmp = self._tmp.name
        self.expected, self.ref_params, jobs = {}, {}, []
        for i, (key, (model, factory, shape, classes, options, _, full)) in enumerate(cases.items()):
            torch.manual_seed(i)
            ref = randomize(factory(), 1000 + i).eval()
            x = torch.randn(*shape)
            with torch.no_grad():
                self.expected[key] = ref(x)
                if sensitivity:
                    other = ref(torch.randn(*shape))
                    self.sensitivity[key] = (other - self.expected[key]).abs().max().item()
                saved = torch.jit.trace(ref, x, check_trace=False) if full else torch.jit.script(weights_carrier(ref))
            self.ref_params[key] = param_count(ref)
            weights, inp, out = (os.path.join(tmp, f"{i}.{ext}") for ext in ("pt", "in.bin", "out.bin"))
            saved.save(weights)
            x.contiguous().numpy().astype("<f4").tofile(inp)
            jobs.append((key, [model, str(classes), inp, ",".join(map(str, shape)), out, weights, *options]))
            del ref, saved
        for key, (model, source, classes, _) in bad_cases.items():
            src = jobs[list(cases).index(source)][1]
            jobs.append((key, [model, str(classes), *src[2:4], os.path.join(tmp, "bad.out.bin"), src[5]]))
        manifest = os.path.join(tmp, "jobs.tsv")
        with open(manifest, "w") as f:
            f.writelines("\t".join(fields) + "\n" for _, fields in jobs)
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        proc = subprocess.run([PROBE, "--batch", manifest], capture_output=True, text=True, timeout=600, env=env)
        lines = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
        if len(lines) != len(jobs):
            raise AssertionError(f"probe answered {len(lines)} of {len(jobs)} jobs (rc {proc.returncode})\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        self.answers = {key: ans for (key, _), ans in zip(jobs, lines)}
        self.outputs = {key: fields[4] for key, fields in jobs}

    def cleanup(self):
        self._tmp.cleanup()


class ParityChecks:
    """Mixin for a unittest.TestCase whose class attribute `parity` is a ParityRun."""

    results = {}

    def check(self, key):
        run = self.parity
        ans, expected = run.answers[key], run.expected[key]
        self.assertNotIn("error", ans, f"{key}: probe failed: {ans.get('error')}")
        want = run.ref_params[key]
        if run.cases[key][5] is not None:
            self.assertEqual(want, run.cases[key][5], f"{key}: reference parameter count")
        self.assertEqual(ans["param_count"], want, f"{key}: parameter count differs from the reference")
        self.assertEqual(ans["output_shape"], list(expected.shape))
        got = torch.from_numpy(np.fromfile(run.outputs[key], dtype="<f4")).reshape(expected.shape)
        self.assertTrue(torch.isfinite(expected).all(), f"{key}: reference logits not finite")
        scale = expected.abs().max().item()
        self.assertGreater(scale, 0.0)
        rel = (got - expected).abs().max().item() / scale
        if key in run.sensitivity:
            self.assertGreater(run.sensitivity[key] / scale, 100 * TOL,
                               f"{key}: the reference output hardly depends on the input")
        ParityChecks.results[key] = (want, rel)
        self.assertLessEqual(rel, TOL, f"{key}: max relative error {rel:.3e} > {TOL}")

    def check_bad(self, bad_cases):
        for key, (_, _, _, fragment) in bad_cases.items():
            with self.subTest(key=key):
                self.assertIn("error", self.parity.answers[key], f"{key}: import should have failed")
                self.assertIn(fragment, self.parity.answers[key]["error"])


def main(unittest_module):
    """Runs the tests with one thread (the test runs beside others under CTest, and OpenMP
    threads that spin on a busy machine are far slower than one), prints the parameter counts
    and errors, and returns the exit status (77 = skipped when the probe is not given)."""
    if not PROBE:
        print("skipping: SMLAB_PARITY_PROBE is not set")
        return 77
    torch.set_num_threads(1)
    prog = unittest_module.main(exit=False, verbosity=2)
    for k, (n, rel) in sorted(ParityChecks.results.items()):
        print(f"parity {k:24s} params {n:>11,d}  max_rel_err {rel:.3e}")
    return 0 if prog.result.wasSuccessful() else 1
