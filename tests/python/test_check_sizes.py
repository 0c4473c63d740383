"""scripts/check_sizes.py: flags a long function and a long file, and leaves short ones, lambdas and
classes alone (a fixture written on the fly), then holds the repository's inference/ and trainers/ to it."""
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(os.environ.get("SMLAB_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
SCRIPT = ROOT / "scripts" / "check_sizes.py"


def run(root, *dirs):
    return subprocess.run([sys.executable, str(SCRIPT), "--root", str(root), *dirs], capture_output=True, text=True)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        d = pathlib.Path(tmp) / "trainers"
        d.mkdir()
        body = "\n".join(f"  x += {i};  // a '{{' in a comment" for i in range(85))
        (d / "long.cpp").write_text(
            "namespace smlab::trainers {\nstruct S {\n  int short_member() const { return 1; }\n};\n"
            f"int long_function(int x) {{\n  auto f = [&](int y) {{\n    return y;\n  }};\n{body}\n  return f(x);\n}}\n"
            "int short_function() {\n  const char* s = \"}}}\";\n  return s[0];\n}\n}  // namespace smlab::trainers\n")
        (d / "big.h").write_text("// filler\n" * 601)
        r = run(tmp, "trainers")
        assert r.returncode == 1, r.stdout
        lines = r.stdout.splitlines()
        assert any("long.cpp:5: function long_function is 91 lines" in l for l in lines), r.stdout
        assert any("big.h: 601 lines" in l for l in lines), r.stdout
        assert not any("short_function" in l or "short_member" in l for l in lines), r.stdout
    clean = run(ROOT, "inference", "trainers")
    assert clean.returncode == 0, "inference/ or trainers/ break the size rule:\n" + clean.stdout
    print("check_sizes: fixture flagged as expected; inference/ and trainers/ are within the limits")


if __name__ == "__main__":
    main()
