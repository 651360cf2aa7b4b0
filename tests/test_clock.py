"""The beat (issue 25, the clock half): one beat clock fed by Ableton Link, a MIDI clock, taps,
the music or a fixed tempo, and the show's beat-locked arrivals on it.

The MIDI clock follower is pure: it is fed pulses with their times, as the MIDI input's thread
feeds it. Link runs for real: the show's clock and a foreign Link peer (linkpython-extern's own
`link.Link`) in one process, inside a private network namespace (`unshare -n`, loopback up),
because Link multicasts on every interface. This file re-executes itself there once (`python
tests/test_clock.py`: the scenarios, results as JSON); each Link test asserts its part. Where
`unshare` or the link extra is missing, those tests skip and say why.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if __name__ == "__main__":  # re-executed inside the namespace: the repository's modules come first
    sys.path.insert(0, str(REPO))

from realtime.clock import BeatClock, ClockError, MidiClock  # noqa: E402

PULSE_120 = 60.0 / 120.0 / 24  # seconds between MIDI clock pulses at 120 BPM


# ---- MIDI clock (pure) ------------------------------------------------------------------------------


def pulses(clock: MidiClock, start: float, count: int, bpm: float, jitter: float = 0.0, seed: int = 7) -> float:
    """Feed `count` pulses at `bpm` from `start`, each moved by up to ±`jitter` seconds; returns
    the time the next pulse is due."""
    rng = random.Random(seed)
    period = 60.0 / bpm / 24
    for i in range(count):
        clock.feed("clock", start + i * period + rng.uniform(-jitter, jitter))
    return start + count * period


def test_clock_jitter_of_2_ms_gives_a_steady_tempo():
    clock = MidiClock()
    clock.feed("start", 0.0)
    rng = random.Random(3)
    tempos, intervals, last = [], [], None
    for i in range(24 * 16):  # four bars at 120 BPM
        at = 1.0 + i * PULSE_120 + rng.uniform(-0.002, 0.002)
        clock.feed("clock", at)
        if last is not None:
            intervals.append(60.0 / (24 * (at - last)))
        last = at
        if i >= 96:  # a bar in: the tempo is fitted over a whole bar from here on
            tempos.append(clock.bpm)
    naive = max(intervals) - min(intervals)  # what a pulse-to-pulse tempo would do with this jitter
    assert naive > 30, naive  # the jitter is real: single intervals swing by tens of BPM
    assert max(tempos) - min(tempos) < 0.5, (min(tempos), max(tempos))
    assert all(abs(t - 120.0) < 0.3 for t in tempos)
    # and the beat between pulses follows the fitted line: within a pulse of the true beat
    now = 1.0 + (24 * 16 - 1) * PULSE_120 + 0.004
    assert abs(clock.beat(now) - (24 * 16 - 1 + 0.004 / PULSE_120) / 24) < 1 / 24


def test_start_stop_continue_and_song_position():
    clock = MidiClock()
    assert clock.bpm is None and not clock.running and clock.beat(0.0) == 0.0
    clock.feed("start", 10.0)
    assert clock.running
    next_at = pulses(clock, 10.0, 48, 120.0)  # two beats: the first pulse after Start is beat 0
    assert clock.bpm == pytest.approx(120.0, abs=1e-6)
    assert clock.beat(next_at - PULSE_120) == pytest.approx(47 / 24)
    clock.feed("stop", next_at)
    assert not clock.running
    held = clock.beat(next_at + 5.0)
    assert held == pytest.approx(2.0)  # stopped: the position holds, however long
    next_at = pulses(clock, next_at + 1.0, 24, 120.0)  # pulses while stopped: tempo yes, position no
    assert clock.beat(next_at) == pytest.approx(held) and clock.bpm == pytest.approx(120.0, abs=1e-6)
    clock.feed("songpos", next_at, 16)  # 16 sixteenths: beat 4
    assert clock.beat(next_at) == pytest.approx(4.0)
    clock.feed("continue", next_at)
    clock.feed("clock", next_at)  # the first pulse after Continue is the song position
    assert clock.beat(next_at) == pytest.approx(4.0)
    pulses(clock, next_at + PULSE_120, 12, 120.0)
    assert clock.beat(next_at + 12 * PULSE_120) == pytest.approx(4.5)
    clock.feed("start", 30.0)  # Start goes back to the top
    clock.feed("clock", 30.0)
    assert clock.beat(30.0) == pytest.approx(0.0)


def test_a_tempo_change_is_followed_within_a_bar_and_a_silent_clock_freezes():
    clock = MidiClock()  # no Start ever: a clock without transport runs from its first pulse
    at = pulses(clock, 0.0, 96, 120.0)
    assert clock.running and clock.bpm == pytest.approx(120.0, abs=1e-6)
    at = pulses(clock, at, 96, 140.0)
    assert clock.bpm == pytest.approx(140.0, abs=1e-6)
    last = at - 60.0 / 140.0 / 24
    beat = clock.beat(last)
    assert clock.beat(last + 10.0) == pytest.approx(beat + 1 / 24)  # at most one pulse past the last one heard
    assert clock.last_pulse == pytest.approx(last)


@pytest.mark.parametrize("kind, at, value, words", [
    ("tick", 0.0, 0, "unknown MIDI clock message 'tick'"),
    ("songpos", 0.0, 16384, "song position must be 0..16383"),
    ("songpos", 0.0, -1, "song position must be 0..16383"),
    ("clock", float("nan"), 0, "must be a finite number of seconds"),
])
def test_bad_clock_messages_are_one_line(kind, at, value, words):
    clock = MidiClock()
    with pytest.raises(ClockError, match=words) as caught:
        clock.feed(kind, at, value)
    assert "\n" not in str(caught.value)
    assert clock.bpm is None and clock.beat(0.0) == 0.0  # nothing changed


# ---- the beat clock (no network) ---------------------------------------------------------------------


def test_fixed_tap_and_music_sources():
    clock = BeatClock("fixed", tempo=120.0)
    assert clock.read(10.0).beat == 0.0 and clock.read(11.0).beat == pytest.approx(2.0)
    clock.set_tempo(60.0, 11.0)  # a new tempo: the beat goes on from where it is, no jump
    reading = clock.read(12.0)
    assert (reading.bpm, reading.source, reading.running) == (60.0, "fixed", True)
    assert reading.beat == pytest.approx(3.0)
    clock.select("tap")
    assert clock.read(12.0).bpm == 0.0 and not clock.read(12.0).running  # no taps yet: no tempo
    assert [clock.tap(t) for t in (20.0, 20.4, 20.8)][1:] == [pytest.approx(150.0), pytest.approx(150.0)]
    assert clock.read(21.0).bpm == pytest.approx(150.0) and clock.read(21.0).phase == pytest.approx(0.5)
    clock.select("audio")
    clock.audio.update(100.0, 7.25, at=30.0)
    assert clock.read(30.3).beat == pytest.approx(7.75) and clock.read(30.3).source == "audio"
    clock.audio.update(None, 0.0, at=31.0)  # the music lost its tempo
    assert clock.read(31.0).bpm == 0.0


def test_unknown_source_and_link_without_a_session_are_refused():
    clock = BeatClock("fixed")
    with pytest.raises(ClockError, match="unknown clock source 'cdj'.*sources: audio, tap, fixed, link, midi"):
        clock.select("cdj")
    with pytest.raises(ClockError, match="start with --link"):
        clock.select("link")
    assert clock.source == "fixed"


def test_midi_source_reads_the_midi_clock():
    clock = BeatClock("midi")
    clock.midi.feed("start", 0.0)
    pulses(clock.midi, 0.0, 48, 90.0)
    reading = clock.read(47 * 60.0 / 90.0 / 24)
    assert (reading.source, reading.running) == ("midi", True)
    assert reading.bpm == pytest.approx(90.0) and reading.beat == pytest.approx(47 / 24)
    silent = clock.read(47 * 60.0 / 90.0 / 24 + 0.6)  # no pulse for over half a second: a pulled cable
    assert (silent.bpm, silent.running) == (0.0, False)


def test_run_link_makes_a_session_that_joins_only_when_chosen():
    """`stylevj run --link` (or a preset on the link clock) gets a Link session, not joined until
    the show follows it; without either, none (no Link threads, no multicast)."""
    pytest.importorskip("link", reason="the link extra is not installed: pip install 'stylevj[link]'")
    from realtime.presets import Preset
    from realtime.session import make_beat_clock

    assert make_beat_clock(Preset()).link is None
    preset = Preset()
    on_link = preset.with_params(preset.params.replace(clock="link", tempo=128.0))
    for clock in (make_beat_clock(preset, link=True), make_beat_clock(on_link)):
        assert clock.link is not None and not clock.link.joined
        assert clock.source == "audio"  # the show selects the preset's clock when it is built
        clock.close()


def test_audio_mappings_move_on_the_beat_clock_and_the_heard_beat_stays_the_musics():
    """[audio] beat mappings read the show's clock (here a Link-like 128 BPM at beat 9.25), not the
    analysis's own beat; what the show publishes as heard keeps the analysis's tempo (the `audio`
    clock follows it)."""
    from realtime.audio.features import AudioFeatures
    from realtime.audio.mapping import commands
    from realtime.clock import BeatReading
    from realtime.presets import AudioMapping

    mappings = (AudioMapping(feature="beat", target="path", every=2),
                AudioMapping(feature="beat_phase", target="speed", amount=2.0))
    music = AudioFeatures(time=5.0, bpm=100.0, beat=3, beat_phase=0.5, tempo_source="estimate")
    drive, heard = commands(music, mappings, BeatReading(128.0, 9.25, "link", 1, True))
    assert drive.drive.segments == pytest.approx(9.25 / 2) and drive.drive.speed == pytest.approx(0.5)
    assert (heard.heard.bpm, heard.heard.beat, heard.heard.beat_phase) == (100.0, 3, 0.5)
    stopped, _ = commands(music, mappings, BeatReading(128.0, 9.25, "link", 1, False))
    assert stopped.drive.segments is None  # a stopped transport: the path runs freely
    alone, _ = commands(music, mappings)  # no clock given (offline renders): the analysis's beat
    assert alone.drive.segments == pytest.approx(3.5 / 2)


# ---- the show on the clock ---------------------------------------------------------------------------


BEAT_SHOW = """
[generator]
source = "demo"
[play]
speed = 0.0
[clock]
source = "fixed"
tempo = 120
[[keyframes]]
seed = 1
[[keyframes]]
seed = 2
[[keyframes]]
seed = 3
[[audio.mappings]]
feature = "beat"
target = "path"
every = 1
"""


def test_the_show_lands_keyframes_on_the_beat_and_publishes_the_clock(tmp_path):
    """A real show (demo generator, 64x64 headless): on the fixed clock at 120 BPM, with one path
    segment per beat, the path is on a keyframe at every beat; tap and /stylevj/bpm move the clock."""
    from realtime.display import HeadlessSurface
    from realtime.models import load_generator
    from realtime.presets import load_preset
    from realtime.session import build_show
    from realtime.show import Folders
    from realtime.latent.hearing import Heard
    from realtime.show.commands import AudioHeard, SetBpm, SetParam, Tap

    from .conftest import FakeClock

    (tmp_path / "show.toml").write_text(BEAT_SHOW)
    preset = load_preset(tmp_path / "show.toml")
    fake = FakeClock(100.0)
    show = build_show(load_generator("demo"), preset, HeadlessSurface((64, 64)), upload="host",
                      folders=Folders.beside(tmp_path))
    show.clock = fake
    try:
        show.step()
        start = show.player.position
        positions = []
        for _ in range(8):  # half a beat a step
            fake.advance(0.25)
            show.step()
            positions.append(show.player.position)
        state = show.board.latest().to_json()
        assert state["clock"]["source"] == "fixed" and state["clock"]["bpm"] == 120.0
        assert state["clock"]["beat"] == pytest.approx(4.0) and state["clock"]["peers"] == 0
        travelled = [(p - start) % 3 for p in positions]
        assert travelled[1::2] == [pytest.approx(k % 3, abs=1e-6) for k in (1, 2, 3, 4)]  # a keyframe each beat
        assert travelled[0::2] == [pytest.approx((k + 0.5) % 3, abs=1e-6) for k in (0, 1, 2, 3)]

        show.submit(SetBpm(60.0))  # /stylevj/bpm sets the clock's tempo (the table's `tempo`)
        fake.advance(0.5)
        show.step()
        fake.advance(1.0)
        show.step()
        state = show.board.latest().to_json()
        assert state["params"]["tempo"] == 60.0 and state["clock"]["bpm"] == 60.0
        assert state["clock"]["beat"] == pytest.approx(6.0)  # 4 + 0.5 s at 120 + 1 s at 60

        show.submit(SetParam("clock", "tap"))
        for _ in range(3):
            show.submit(Tap())
            show.step()
            fake.advance(0.5)
        show.step()
        state = show.board.latest().to_json()
        assert state["clock"]["source"] == "tap" and state["clock"]["bpm"] == pytest.approx(120.0)
        assert state["clock"]["beat"] % 1 == pytest.approx(0.0, abs=1e-6)  # the taps were on the beat

        show.submit(SetParam("clock", "audio"))  # the music's tempo and beat, as the audio adapter reports them
        show.submit(AudioHeard(Heard.within(bpm=100.0, beat=7, beat_phase=0.25)))
        show.step()
        fake.advance(0.3)
        show.step()
        state = show.board.latest().to_json()
        assert state["clock"]["source"] == "audio" and state["clock"]["bpm"] == 100.0
        assert state["clock"]["beat"] == pytest.approx(7.75)  # run on at the music's tempo between reports

        show.submit(SetParam("clock", "link"))  # no Link session in this show: refused, nothing changes
        show.step()
        state = show.board.latest()
        assert state.params.clock == "audio" and state.beat.source == "audio"
        assert any(e.name == "error" and "--link" in e.args[0] for e in state.events)
    finally:
        show.worker.stop()
        show.surface.close()


# ---- Ableton Link (inside a private network namespace) ----------------------------------------------


def wait(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


def link_scenarios() -> dict:
    """The show's beat clock joins a Link session with a foreign peer; returns what was seen."""
    import link

    from realtime.clock import LinkSession

    logging.basicConfig(level=logging.INFO)
    warnings: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                warnings.append(record.getMessage())

    logging.getLogger("realtime.clock").addHandler(Catch())
    out: dict = {}
    peer = link.Link(100.0)
    peer.enabled = True
    clock = BeatClock("fixed", tempo=120.0, link=LinkSession(120.0))  # as `run --link` makes it: not joined yet
    out["peers_before"] = peer.numPeers()
    clock.select("link")  # the show selects it (the table's `clock`, set to link by --link)
    out["joined"] = wait(lambda: clock.read(time.perf_counter()).peers >= 1)
    out["peers"] = clock.read(time.perf_counter()).peers

    def set_peer_tempo(bpm: float) -> None:
        state = peer.captureAppSessionState()
        state.setTempo(bpm, peer.clock().micros())
        peer.commitAppSessionState(state)

    set_peer_tempo(133.0)
    out["followed"] = wait(lambda: abs(clock.read(time.perf_counter()).bpm - 133.0) < 0.01)
    out["bpm"] = clock.read(time.perf_counter()).bpm

    clock.set_tempo(97.0, time.perf_counter())  # /stylevj/bpm, the table's tempo: proposed to the session
    out["proposed"] = wait(lambda: abs(peer.captureAppSessionState().tempo() - 97.0) < 0.01)
    clock.tap(time.perf_counter())
    out["tap_proposed"] = False
    t = time.perf_counter()
    for k in range(1, 4):  # taps at 150 BPM
        while time.perf_counter() < t + 0.4 * k:
            time.sleep(0.001)
        clock.tap(t + 0.4 * k)
    out["tap_proposed"] = wait(lambda: abs(peer.captureAppSessionState().tempo() - 150.0) < 0.5)

    # phase: both read at the same instant (the peer on Link's clock, the show on its own)
    errors = []
    for _ in range(200):
        now = time.perf_counter()
        micros = peer.clock().micros()
        ours = clock.read(now)
        theirs = peer.captureAppSessionState().beatAtTime(micros, 4.0)
        lag = ((ours.beat - theirs + 2.0) % 4.0) - 2.0  # the same bar phase (quantum 4)
        errors.append(abs(lag) * 60.0 / ours.bpm * 1000.0)
        time.sleep(0.002)
    out["phase_ms_max"] = max(errors)
    out["phase_ms_median"] = sorted(errors)[len(errors) // 2]

    warnings.clear()
    set_peer_tempo(999.0)
    wait(lambda: clock.read(time.perf_counter()).bpm == 400.0)
    readings = [clock.read(time.perf_counter()) for _ in range(50)]
    out["clamped_bpm"] = sorted({r.bpm for r in readings})
    out["clamped_beats_rise"] = all(b.beat > a.beat for a, b in zip(readings, readings[1:]))
    out["clamp_warnings"] = [w for w in warnings if "999" in w]
    set_peer_tempo(128.0)
    out["back"] = wait(lambda: abs(clock.read(time.perf_counter()).bpm - 128.0) < 0.01)

    # start/stop sync (--link-start-stop): the session's transport starts and stops the beat
    follower = LinkSession(120.0, start_stop=True)
    follower.join()
    peer.startStopSyncEnabled = True
    wait(lambda: follower.peers >= 2)  # a transport change reaches the peers already in the session

    def set_playing(playing: bool) -> None:
        state = peer.captureAppSessionState()
        state.setIsPlaying(playing, peer.clock().micros())
        peer.commitAppSessionState(state)

    set_playing(True)
    out["started"] = wait(lambda: follower.read(time.perf_counter()).running)
    set_playing(False)
    out["stopped"] = wait(lambda: not follower.read(time.perf_counter()).running)
    out["others_ignore_transport"] = clock.read(time.perf_counter()).running  # without the flag: always running
    follower.close()

    clock.select("fixed")  # leaves the session
    out["left"] = wait(lambda: peer.numPeers() == 0)
    clock.close()
    peer.enabled = False
    return out


def _why_not() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip missing: no private network namespace for Link"
    try:
        import link  # noqa: F401
    except ImportError as exc:
        return f"the Link binding is not installed ({exc}): pip install 'stylevj[link]'"
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if probe.returncode:
        return f"unshare -n is not allowed here ({probe.stderr.strip()})"
    return None


@pytest.fixture(scope="module")
def link_results():
    why = _why_not()
    if why:
        pytest.skip(why)
    done = subprocess.run(["unshare", "-n", "sh", "-c", f"ip link set lo up && exec {sys.executable} {__file__}"],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, f"the Link scenarios failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return json.loads(lines[-1])


def test_link_join_and_follow_a_tempo_change(link_results):
    r = link_results
    assert r["peers_before"] == 0  # not joined until the link clock is chosen
    assert r["joined"] and r["peers"] == 1
    assert r["followed"] and r["bpm"] == pytest.approx(133.0, abs=0.01)
    assert r["left"]  # choosing another clock leaves the session


def test_link_tempo_proposed_by_bpm_and_taps(link_results):
    assert link_results["proposed"]
    assert link_results["tap_proposed"]


def test_link_phase_agrees_within_5_ms(link_results):
    assert link_results["phase_ms_max"] < 5.0, link_results


def test_link_start_stop_sync_is_followed_only_when_asked(link_results):
    r = link_results
    assert r["started"] and r["stopped"] and r["others_ignore_transport"]


def test_link_999_bpm_is_clamped_and_logged_once(link_results):
    r = link_results
    assert r["clamped_bpm"] == [400.0] and r["clamped_beats_rise"]
    assert len(r["clamp_warnings"]) == 1 and "outside 20..400" in r["clamp_warnings"][0]
    assert r["back"]


if __name__ == "__main__":
    print(json.dumps(link_scenarios()))
    sys.stdout.flush()
    import os

    os._exit(0)  # Link's threads need no orderly goodbye in a throwaway namespace
