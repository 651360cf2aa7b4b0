"""The streaming analyser against synthetic signals with known truth: onsets, tempo, beat phase,
bands, automatic gain, overrides. No timing assertions: only values computed from the audio."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from realtime.audio import AnalyserConfig, AudioAnalyser, AudioError, AudioFeatures
from tests.test_audio_synth import SR, beat_times, blocks, click, house_loop, noise, place, tone


def run(x: np.ndarray, block: int = 480, analyser: AudioAnalyser | None = None) -> list[AudioFeatures]:
    """Feed `x` in blocks (480 samples: a 10 ms device block) and keep every snapshot."""
    analyser = analyser or AudioAnalyser()
    return [analyser.process(b) for b in blocks(x, block)]


def onset_times(snapshots: list[AudioFeatures]) -> list[float]:
    """The onset events, read as a show would: whenever the count grows, the newest time."""
    times, count = [], 0
    for f in snapshots:
        if f.onset_count > count:
            assert f.onset_count == count + 1, "at most one onset per 10 ms block here"
            times.append(f.last_onset_time)
            count = f.onset_count
    return times


def phase_error_ms(f: AudioFeatures, first_beat: float, bpm: float) -> float:
    """Signed distance, in ms, between the reported beat phase and the true one at f.time."""
    period = 60.0 / bpm
    truth = ((f.time - first_beat) / period) % 1.0
    return ((f.beat_phase - truth + 0.5) % 1.0 - 0.5) * period * 1000


# -- onsets -----------------------------------------------------------------------------------------


def test_clicks_at_known_times_give_onsets_within_10_ms():
    rng = np.random.default_rng(3)
    truth = 0.3 + np.cumsum(rng.uniform(0.12, 0.7, 25))  # irregular: nothing to predict
    x = place(truth[-1] + 0.5, truth, click(), 0.8) + noise(truth[-1] + 0.5, 0.003)
    found = onset_times(run(x))
    assert found[0] < 0.01  # the hiss starting from nothing is an onset too
    found = found[1:]
    assert len(found) == len(truth)
    errors_ms = (np.array(found) - truth) * 1000
    assert np.max(np.abs(errors_ms)) <= 10.0, errors_ms


def test_kicks_and_hats_give_one_onset_each_within_10_ms():
    x = house_loop(120, 8.0, first=0.25)
    beats = beat_times(120, 8.0, 0.25)
    truth = np.sort(np.concatenate([beats, beats + 0.25]))
    truth = truth[truth < 7.95]  # the last hat would start at the very end
    found = np.array(onset_times(run(x)))
    found = found[found > 0.1]  # the pad and hiss starting at t=0 are an onset too
    assert len(found) == len(truth)
    assert np.max(np.abs(found - truth)) * 1000 <= 10.0


def test_an_onset_is_reported_within_a_display_frame_of_the_click():
    truth = np.arange(0.5, 5.0, 0.37)
    snapshots = run(place(5.2, truth, click(), 0.8), block=256)
    for t in truth:
        seen = next(f for f in snapshots if f.last_onset_time is not None and abs(f.last_onset_time - t) < 0.01)
        assert seen.time - t <= 0.016, f"onset at {t:.3f} s reported at {seen.time:.3f} s"


def test_steady_noise_and_silence_make_no_onsets():
    x = np.concatenate([np.zeros(SR, np.float32), noise(6.0, 0.1)])
    snapshots = run(x)
    assert snapshots[SR // 480 - 1].onset_count == 0  # one second of digital silence
    assert snapshots[-1].onset_count == 1  # the noise starting, then nothing
    assert abs(snapshots[-1].last_onset_time - 1.0) < 0.01


# -- tempo and beat ---------------------------------------------------------------------------------


def test_120_bpm_click_gives_tempo_within_1_bpm_and_phase_within_20_ms():
    first = 0.4137
    x = place(12.0, beat_times(120, 12.0, first), click(), 0.8)
    late = [f for f in run(x) if f.time >= 6.0]
    assert all(f.tempo_source == "estimate" for f in late)
    assert max(abs(f.bpm - 120.0) for f in late) <= 1.0
    assert max(abs(phase_error_ms(f, first, 120)) for f in late) <= 20.0


@pytest.mark.parametrize("bpm", [75.0, 95.0, 128.0, 140.0, 174.0])
def test_beat_locks_to_the_kick_not_the_off_beat_hat(bpm):
    first = 0.3 + 0.1 * (bpm % 7)
    late = [f for f in run(house_loop(bpm, 14.0, first)) if f.time >= 8.0]
    assert max(abs(f.bpm - bpm) for f in late) <= 1.0
    assert max(abs(phase_error_ms(f, first, bpm)) for f in late) <= 20.0


def test_a_human_drummer_jitter_still_gives_the_tempo():
    rng = np.random.default_rng(5)
    beats = beat_times(120, 14.0, 0.3)
    x = place(14.0, beats + rng.uniform(-0.008, 0.008, beats.size), click(), 0.8) + noise(14.0, 0.01)
    late = [f for f in run(x) if f.time >= 8.0]
    assert max(abs(f.bpm - 120.0) for f in late) <= 1.0
    assert max(abs(phase_error_ms(f, 0.3, 120)) for f in late) <= 20.0


def test_the_tempo_follows_a_change():
    x = np.concatenate([house_loop(120, 10.0, 0.25), house_loop(128, 12.0, 0.0)])  # 128 BPM from 10 s
    snapshots = run(x)
    assert abs(next(f for f in snapshots if f.time >= 9.9).bpm - 120.0) <= 1.0
    late = [f for f in snapshots if f.time >= 16.0]
    assert max(abs(f.bpm - 128.0) for f in late) <= 1.0
    assert max(abs(phase_error_ms(f, 10.0, 128)) for f in late) <= 20.0


def test_no_tempo_before_warmup_nor_in_silence():
    snapshots = run(np.zeros(10 * SR, np.float32))
    assert snapshots[-1].bpm is None and snapshots[-1].tempo_source == "none"
    early = run(house_loop(120, 2.0, 0.25))
    assert all(f.bpm is None for f in early)


def test_beat_count_only_grows_and_phase_stays_in_range():
    snapshots = run(house_loop(128, 12.0, 0.2))
    counts = [f.beat for f in snapshots]
    assert all(b >= a for a, b in zip(counts, counts[1:]))
    assert all(0.0 <= f.beat_phase < 1.0 for f in snapshots)
    # 12 s at 128 BPM with a lock after about 2.5 s: about 20 beats counted
    assert 17 <= counts[-1] <= 23


def test_tap_overrides_the_estimate_and_sets_the_beat():
    analyser = AudioAnalyser()
    run(house_loop(120, 8.0, 0.25), analyser=analyser)
    taps = [6.0, 6.6, 7.2, 7.8]  # 100 BPM, a beat on 7.8
    assert analyser.tap(taps) == pytest.approx(100.0)
    after = run(house_loop(120, 4.0, 0.25), analyser=analyser)
    assert all(f.tempo_source == "tap" and f.bpm == pytest.approx(100.0) for f in after)
    assert max(abs(phase_error_ms(f, 7.8, 100.0)) for f in after) <= 1.0
    analyser.set_bpm(None)  # back to listening
    later = run(house_loop(120, 3.0, 0.25), analyser=analyser)
    assert later[-1].tempo_source == "estimate" and abs(later[-1].bpm - 120.0) <= 1.0


def test_explicit_bpm_overrides_tempo_and_keeps_following_the_kicks():
    analyser = AudioAnalyser()
    analyser.set_bpm(120.0)
    assert analyser.features.bpm == 120.0 and analyser.features.tempo_source == "manual"
    first = 0.25 + 0.5 * 0.3  # kicks off the clock's start, to be found
    late = [f for f in run(house_loop(120, 10.0, first), analyser=analyser) if f.time >= 6.0]
    assert all(f.bpm == 120.0 and f.tempo_source == "manual" for f in late)
    assert max(abs(phase_error_ms(f, first, 120)) for f in late) <= 20.0


@pytest.mark.parametrize("bad", [0.0, -120.0, 1000.0, math.nan, math.inf])
def test_a_bad_bpm_or_too_few_taps_is_one_clear_error(bad):
    analyser = AudioAnalyser()
    with pytest.raises(AudioError, match="BPM"):
        analyser.set_bpm(bad)
    with pytest.raises(AudioError, match="two taps"):
        analyser.tap([1.0])
    with pytest.raises(AudioError, match="increasing"):
        analyser.tap([2.0, 1.0])


# -- bands and gain ---------------------------------------------------------------------------------


@pytest.mark.parametrize("freq, band", [(60.0, "low"), (150.0, "low"), (700.0, "mid"), (1500.0, "mid"),
                                        (4000.0, "high"), (10000.0, "high")])
def test_a_sine_tone_lands_in_its_band(freq, band):
    f = run(tone(freq, 1.5, 0.3))[-1]
    values = {"low": f.low, "mid": f.mid, "high": f.high}
    assert values[band] > 0.9
    assert all(v < 0.1 for name, v in values.items() if name != band), values


def test_quiet_and_loud_copies_move_the_same():
    x = house_loop(120, 8.0, 0.25)
    loud, quiet = run(x), run(x * 0.01)  # 40 dB apart
    for a, b in zip(loud[100:], quiet[100:]):
        for name in ("level", "flux", "low", "mid", "high", "beat_phase"):
            assert abs(getattr(a, name) - getattr(b, name)) <= 0.02, (name, a.time)
        assert a.onset_count == b.onset_count
    assert loud[-1].rms_db - quiet[-1].rms_db == pytest.approx(40.0, abs=0.5)
    assert max(f.level for f in loud) > 0.8  # normalised: the music fills the range


def test_gain_recovers_slowly_after_a_loud_passage():
    loud, quiet = tone(440, 3.0, 0.5), tone(440, 30.0, 0.05)  # then 20 dB quieter
    snapshots = run(np.concatenate([loud, quiet]))
    at = {round(f.time, 1): f.level for f in snapshots}
    assert at[2.9] > 0.95
    assert at[4.0] < 0.15  # the gain does not jump: the drop is seen
    assert 0.15 < at[10.0] < at[15.0] < at[20.0] < 0.9  # then the quiet passage is brought up
    assert at[30.0] > 0.95  # the 10 s release: 20 dB in 23 s


def test_level_rises_fast_and_falls_smoothly():
    snapshots = run(np.concatenate([tone(440, 2.0, 0.5), np.zeros(SR, np.float32)]), block=240)
    at = {round(f.time, 3): f.level for f in snapshots}
    assert at[0.05] > 0.9  # attack: a few milliseconds
    assert 0.3 < at[2.1] < 0.9 and at[2.5] < 0.1  # release: 0.15 s time constant


# -- the snapshot and the stream --------------------------------------------------------------------


def test_features_do_not_depend_on_how_the_audio_is_cut():
    x = house_loop(120, 6.0, 0.25)
    whole = run(x, block=512)
    for size in (64, 100, 333):
        analyser = AudioAnalyser()
        for i, b in enumerate(blocks(x, 512)):
            for piece in blocks(b, size):
                analyser.process(piece)
            assert analyser.features == whole[i]


def test_two_walks_over_the_same_audio_are_identical():
    x = house_loop(95, 5.0, 0.3)
    assert run(x) == run(x)


def test_snapshot_is_frozen_and_plain():
    f = run(house_loop(120, 4.0, 0.25))[-1]
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.level = 0.5  # type: ignore[misc]
    values = f.as_dict()
    assert values["time"] == pytest.approx(4.0, abs=0.01) and values["onset_count"] == f.onset_count
    assert all(isinstance(v, (int, float, str, type(None))) for v in values.values())
    assert f.beat_position == f.beat + f.beat_phase
    assert 0.0 <= f.level <= 1.0 and f.rms_db < 0


def test_stereo_blocks_are_mixed_and_bad_samples_ignored():
    x = tone(1000, 1.0, 0.4)
    mono = run(x)[-1]
    stereo = AudioAnalyser()
    for b in blocks(x, 480):
        f = stereo.process(np.stack([b, b], axis=1))
    assert f == mono
    broken = x.copy()
    broken[1000:1010] = np.nan
    assert math.isfinite(run(broken)[-1].level)


def test_config_is_checked():
    with pytest.raises(AudioError, match="window"):
        AnalyserConfig(window=1000)
    with pytest.raises(AudioError, match="mid_band"):
        AnalyserConfig(mid_band=(3000.0, 2000.0))
    assert AnalyserConfig().frame_rate == 187.5
