"""The antegrade direction given against the flow: a warning when the direction named
antegrade carries clearly less flow than the other, and never on a recording read the
right way, however much reflux it holds."""

import json
from pathlib import Path

import numpy as np
import pytest

import dopplerflow as df
from dopplerflow.cli import main
from dopplerflow.core.assemble import AUTO_MARGIN, ONE_WAY_SHARE, WRONG_WAY_RATIO
from dopplerflow.sim.scenarios import SCENARIOS
from dopplerflow.sim.signals import to_layout
from dopplerflow.sim.synth import synthesize
from dopplerflow.study.manifest import load_manifest

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
FS = 16000  # every scenario's shifts fit (artery_triphasic needs over 9.6 kHz)
OPPOSITE = {"toward": "away", "away": "toward"}


def _wrong_way(analysis):
    return [w for w in analysis.warnings if w.startswith("--antegrade ")]


def test_competent_femoral_sample_read_the_wrong_way_round(capsys):
    a = df.analyze(SAMPLES / "femoral_competent_iq.flac", vessel="femoral", antegrade="toward")
    assert a.reflux  # the vein's normal flow counted as reflux, as before
    assert _wrong_way(a) == [
        "--antegrade toward, but the flow away from the probe is 26 times the flow toward the "
        "probe (96% of the time-integrated velocity): the direction given may be the wrong way "
        "round, which counts the vessel's normal flow as reflux; check the probe's orientation, "
        "or use --antegrade away (or auto)"]
    assert main(["analyze", str(SAMPLES / "femoral_competent_iq.flac"), "--vessel", "femoral",
                 "--antegrade", "toward"]) == 0
    out = capsys.readouterr().out
    assert "reflux      YES: 2 event(s)" in out
    assert "warning     --antegrade toward, but the flow away from the probe is 26 times" in out


@pytest.mark.parametrize("name", ["femoral_competent_iq", "jugular_valsalva_iq",
                                  "gsv_reflux_toward_away"])
def test_bundled_samples_read_the_right_way_round_do_not_warn(name):
    truth = json.loads((SAMPLES / f"{name}.truth.json").read_text())
    a = df.analyze(SAMPLES / f"{name}.flac", layout=truth["layout"], vessel=truth["vessel"],
                   antegrade=truth["antegrade"])
    assert a.flow_detected and not _wrong_way(a)


def test_exam_recordings_with_their_directions_do_not_warn():
    manifest = load_manifest(SAMPLES / "exam" / "exam.toml")
    given = [rec for rec in manifest.recordings if rec.settings.antegrade != "auto"]
    assert given
    for rec in given:
        a = df.analyze(rec.path, settings=rec.settings)
        assert not _wrong_way(a), rec.path


@pytest.fixture(scope="module")
def scenarios():
    """Every scenario at its own SNR and at 3 dB (where the slow antegrade flow sinks under
    the noise and a reflux's share of what is seen is largest), as I/Q."""
    out = {}
    for name in SCENARIOS:
        for snr in (None, 3.0):
            syn = synthesize(name, sample_rate_hz=FS, snr_db=snr, seed=0)
            out[name, snr] = (to_layout(syn.baseband, "iq", FS), syn.truth)
    return out


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenarios_read_the_right_way_round_do_not_warn(scenarios, name):
    for snr in (None, 3.0):
        x, truth = scenarios[name, snr]
        a = df.analyze(x, sample_rate_hz=FS, vessel=truth["vessel"],
                       antegrade=truth["antegrade"])
        assert not _wrong_way(a), (name, snr, a.warnings)


@pytest.mark.parametrize("name", ["femoral_competent", "jugular_phasic", "jugular_valve_closure",
                                  "artery_triphasic", "carotid"])
def test_competent_veins_and_arteries_read_the_wrong_way_round_warn(scenarios, name):
    x, truth = scenarios[name, None]
    wrong = OPPOSITE[truth["antegrade"]]
    a = df.analyze(x, sample_rate_hz=FS, vessel=truth["vessel"], antegrade=wrong)
    (warning,) = _wrong_way(a)
    if name == "carotid":  # no flow at all the way given: no ratio to give
        assert warning.startswith(f"--antegrade {wrong}, but all the time-integrated velocity "
                                  f"is toward the probe: ")
    else:
        assert warning.startswith(f"--antegrade {wrong}, but the flow ")
    assert warning.endswith(f"use --antegrade {truth['antegrade']} (or auto)")
    # auto chooses the direction with the flow: nothing to question
    assert not _wrong_way(df.analyze(x, sample_rate_hz=FS, vessel=truth["vessel"]))


def test_the_ratio_is_what_auto_chooses_by(scenarios):
    """The criterion reads the per-direction time-integrated maximum frequency that
    ``antegrade='auto'`` compares, at the documented ratio."""
    x, truth = scenarios["jugular_valsalva", None]
    p = df.Processor(df.Settings(vessel="ijv", antegrade="toward"), FS, 2)
    p.push(np.asarray(x, np.float32))
    a = p.finish()
    toward, away = p.integral
    assert away > WRONG_WAY_RATIO * toward  # a 2 s reflux read the wrong way round
    assert f"is {away / toward:.0f} times the flow toward the probe" in _wrong_way(a)[0]


def _uncertain(analysis):
    return [w for w in analysis.warnings if w.startswith("antegrade chosen ")]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_auto_warns_where_its_choice_is_by_a_small_margin(scenarios, name):
    """``antegrade='auto'`` warns exactly where the direction it takes carries less than
    AUTO_MARGIN times the other's flow; a direction given never gets that warning."""
    for snr in (None, 3.0):
        x, truth = scenarios[name, snr]
        p = df.Processor(df.Settings(vessel=truth["vessel"]), FS, 2)
        p.push(np.asarray(x, np.float32))
        a = p.finish()
        if not a.flow_detected:
            assert a.antegrade is None and not _uncertain(a)
            continue
        chosen, other = sorted(p.integral, reverse=True)
        assert bool(_uncertain(a)) == (chosen < AUTO_MARGIN * other), (name, snr)
        b = df.analyze(x, sample_rate_hz=FS, vessel=truth["vessel"], antegrade=a.antegrade)
        assert not _uncertain(b)


def test_a_reflux_that_swings_auto_is_warned_of():
    """low_snr_gsv: auto takes the reflux's direction (1.3 times the forward flow's) and
    says so; given the truth's direction the analysis is as the truth."""
    syn = synthesize("low_snr_gsv", sample_rate_hz=FS, seed=0)
    x = to_layout(syn.baseband, "iq", FS)
    a = df.analyze(x, sample_rate_hz=FS, vessel="gsv")
    assert a.antegrade != syn.truth["antegrade"]
    (warning,) = _uncertain(a)
    assert warning.startswith(f"antegrade chosen {a.antegrade} by a small margin (auto): ")
    assert warning.endswith("give --antegrade toward or away if the vein's normal direction "
                            "is known")


def test_no_flow_has_no_antegrade_direction(tmp_path, capsys):
    """Without flow there is nothing to choose a direction from: null, 'unknown', and the
    summary says so (it said "chosen: more time-integrated flow")."""
    from dopplerflow.sim.synth import write_scenario

    write_scenario("no_flow", tmp_path / "none.wav", sample_rate_hz=FS)
    a = df.analyze(tmp_path / "none.wav", vessel="gsv")
    assert a.flow_detected is False and a.reflux is False
    assert (a.antegrade, a.antegrade_source) == (None, "unknown")
    assert main(["analyze", str(tmp_path / "none.wav"), "--vessel", "gsv"]) == 0
    assert "  antegrade   not known: no flow to tell it by\n" in capsys.readouterr().out


def _one_way(analysis):
    return [w for w in analysis.warnings if "--antegrade auto took it as the vein's forward" in w]


def test_a_clip_of_a_reflux_alone_is_warned_of():
    """0.8 s cut around a perforator's 0.67 s reflux: all its flow runs one way, which auto
    takes as forward flow ("no"); the warning names the run the other reading would call
    reflux. Given the vein's direction, the same clip reads "yes" and has no warning."""
    syn = synthesize("perforator_reflux", sample_rate_hz=FS, seed=0)
    (first, _), truth = syn.truth["reflux_events"], syn.truth
    x = to_layout(syn.baseband, "iq", FS)
    cut = x[round((first["start_s"] - 0.05) * FS):round((first["end_s"] + 0.07) * FS)]
    a = df.analyze(cut, sample_rate_hz=FS, vessel="perforator")
    assert a.reflux is False and a.antegrade == OPPOSITE[truth["antegrade"]]
    (warning,) = _one_way(a)
    assert warning.startswith(f"all the flow ran {a.antegrade} from the probe, and ")
    # the run is the reflux, within a hop and the window at either edge
    run = warning.split("its run from ")[1]
    start, duration = (float(v.split(" s")[0]) for v in run.split(", ")[:2])
    assert abs(start - 0.05) <= 0.02 and abs(duration - first["duration_s"]) <= 0.03
    assert " over the 0.35 s reflux threshold; " in warning
    assert warning.endswith(f"give --antegrade {truth['antegrade']}")
    b = df.analyze(cut, sample_rate_hz=FS, vessel="perforator", antegrade=truth["antegrade"])
    assert b.reflux and not _one_way(b)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_auto_warns_of_flow_one_way_only_where_it_hides_a_reflux(scenarios, name):
    """The warning fires exactly where auto's "no" rests on flow one way alone (the other
    direction under ONE_WAY_SHARE of it) that, read the other way round, holds a reflux:
    never on the scenarios' veins, which flow both ways, nor on an artery (no reflux
    rule); the carotid's one-way flow, analysed as a vein, is warned of."""
    for snr in (None, 3.0):
        x, truth = scenarios[name, snr]
        for vessel in {truth["vessel"], "gsv"}:
            p = df.Processor(df.Settings(vessel=vessel), FS, 2)
            p.push(np.asarray(x, np.float32))
            a = p.finish()
            if a.reflux is not False or not a.flow_detected or p.settings.threshold_s is None:
                assert not _one_way(a), (name, snr, vessel)
                continue
            chosen, other = sorted(p.integral, reverse=True)
            expect = other < ONE_WAY_SHARE * chosen
            assert bool(_one_way(a)) == expect, (name, snr, vessel)
            assert expect == (name == "carotid" and vessel == "gsv"), (name, snr, vessel)
