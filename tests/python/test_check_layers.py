"""scripts/check_layers.py: clean on the repository, and it fails on a deliberately upward include."""
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(os.environ.get("SMLAB_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
SCRIPT = ROOT / "scripts" / "check_layers.py"


def run(root):
    return subprocess.run([sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True)


def main():
    clean = run(ROOT)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    bad = run(ROOT / "tests" / "fixtures" / "layering_bad")
    assert bad.returncode == 1, f"the bad fixture passed:\n{bad.stdout}"
    lines = [l for l in bad.stdout.splitlines() if ": core/ includes trainers/" in l]
    assert len(lines) == 1 and "core/upward.h:3:" in lines[0], bad.stdout
    assert "trainers/fine.h" not in bad.stdout, "a downward include was flagged:\n" + bad.stdout
    print("check_layers: clean tree passes; core/ -> trainers/ fixture fails as it should")


if __name__ == "__main__":
    main()
