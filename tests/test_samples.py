"""The bundled samples are what samples/make_samples.py makes, bit for bit."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"


def _make_samples_module():
    spec = importlib.util.spec_from_file_location("make_samples",
                                                  SAMPLES_DIR / "make_samples.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("samples")
    mod = _make_samples_module()
    return mod, [Path(p) for p in mod.make_samples(out)]


def test_regeneration_is_bit_for_bit(regenerated):
    mod, paths = regenerated
    assert [p.name for p in paths] == [name for name, _, _ in mod.SAMPLES]
    for path in paths:
        bundled = SAMPLES_DIR / path.name
        new, fs_new = sf.read(path, dtype="int16")
        old, fs_old = sf.read(bundled, dtype="int16")
        assert fs_new == fs_old and np.array_equal(new, old), path.name
        truth_name = path.name.rsplit(".", 1)[0] + ".truth.json"
        assert json.loads((path.parent / truth_name).read_text()) == \
            json.loads((SAMPLES_DIR / truth_name).read_text())


def test_samples_are_small_and_described():
    files = [p for p in SAMPLES_DIR.iterdir() if p.suffix in (".flac", ".wav", ".json")]
    assert sum(p.stat().st_size for p in files) <= 2 * 1024 * 1024
    truth = json.loads((SAMPLES_DIR / "jugular_valsalva_iq.truth.json").read_text())
    assert truth["vessel"] == "ijv" and truth["layout"] == "iq" and truth["reflux"] is True
    assert all(ev["duration_s"] > 0.88 for ev in truth["reflux_events"])
    info = sf.info(str(SAMPLES_DIR / "jugular_valsalva_iq.flac"))
    assert info.channels == 2 and info.subtype == "PCM_16"
    assert info.samplerate == truth["sample_rate_hz"]


def test_the_readme_shows_what_its_first_command_prints():
    """The README's first command, run as a new user would, prints the README's block
    line for line (the compile notice of a machine's first run aside)."""
    import re
    import subprocess
    import sys

    readme = (SAMPLES_DIR.parent / "README.md").read_text()
    command = re.search(r"pip install \. && (dopplerflow analyze [^\n]+)", readme).group(1)
    shown = readme.split("## What the first command prints", 1)[1].split("```")[1].strip("\n")
    args = command.split()[1:]
    p = subprocess.run([sys.executable, "-m", "dopplerflow", *args], cwd=SAMPLES_DIR.parent,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    err = [ln for ln in p.stderr.splitlines() if not ln.startswith("dopplerflow: first run")]
    assert (p.stdout + "\n".join(err)).strip("\n") == shown


@pytest.mark.parametrize("page", ["README.md", "docs/usage.md"])
def test_the_python_example_runs_as_written(page, monkeypatch, capsys):
    """The Python example of the README and of usage.md, pasted as it is (from the
    project's folder), runs, and reads the sample's reflux."""
    import re

    root = SAMPLES_DIR.parent
    text = (root / page).read_text()
    code = re.search(r"```python\n(import dopplerflow\nimport soundfile as sf\n.*?)```", text,
                     re.S).group(1)
    monkeypatch.chdir(root)
    scope = {}
    exec(compile(code, page, "exec"), scope)
    assert scope["result"].reflux is True and scope["a"].reflux is False
    assert "reflux_ended" in capsys.readouterr().out
