"""A leader's saved show: written whole, refused with a reason when damaged, and a restarted
leader goes on from it where the show would have been (live/cluster/resume.py)."""

from __future__ import annotations

import json
import logging
import time
from types import SimpleNamespace

import numpy as np
import pytest

from live.cluster import relay, resume
from live.cluster.sync import LeaderClock
from live.control.tempo import BeatClock
from live.modulation import SourceTable
from live.params import Bus, Controls, Registry
from live.walk import Walk
from tests.conftest import wait_for

REG = Registry()
DIM = 16


def _node(saver=None, resume_from=None, clock=None, text=None):
    bus = Bus(REG)
    engine = SimpleNamespace(bus=bus, registry=REG, walk=Walk(DIM, seed=0), timeline=None,
                             text=text)
    leader = relay.Leader(trace=relay.Trace(None, "leader"), saver=saver,
                          resume_from=resume_from, clock=clock)
    leader.attach(engine)
    leader.scene_name = lambda: "default"
    return leader, engine, Controls(REG)


def _run(engine, controls, t0, t1, step=1 / 60):
    """Frames of ``step`` from ``t0`` to ``t1`` (the last one cut at ``t1``)."""
    sources, beat = SourceTable(), BeatClock()
    t = t0
    while t < t1:
        nxt = min(t + step, t1)
        engine.bus.drain(controls)
        engine.timeline.advance(t, nxt, controls, engine.walk, beat, sources, engine.bus)
        t = nxt


def test_a_restarted_leader_goes_on_where_the_show_would_be(tmp_path):
    path = tmp_path / "cluster-state.json"
    saver = resume.Saver(path, every_s=60.0)
    typed: list = []
    text = SimpleNamespace(out=None, follow=False, layer=SimpleNamespace(push=typed.append))
    leader, engine, controls = _node(saver=saver, text=text)
    try:
        # a show: values (stamped by the leader, applied at their time), a cue, a prime
        _run(engine, controls, 0.0, 0.2)
        engine.bus.set("walk.speed", 2.5)
        engine.bus.set("fx.spin", 45.0)
        engine.bus.set("walk.mode", "orbit")
        engine.bus.trigger("text.prime", text="To be")
        text.out("To be, or not")  # what the text layer typed (stamped, then on the layer)
        _run(engine, controls, 0.2, 0.9)
        engine.walk.store_cue(3)
        leader.timeline.at_call(1.5, leader._save)  # what the leader's thread asks each save_s
        _run(engine, controls, 0.9, 2.0)
        assert wait_for(lambda: saver.saved >= 1, timeout=10)
    finally:
        leader.close()
    saved = resume.read(path, ["default"])
    assert saved is not None and saved.show_s == pytest.approx(1.5, abs=1e-12)
    assert saved.scene == "default" and saved.prime == "To be"
    assert typed == ["To be, or not"] and saved.text == "To be, or not"
    assert saved.values["walk.speed"] == 2.5 and 3 in saved.cues
    assert "show.record" not in saved.values  # local values stay local

    # restarted 3 s of wall time after the save: its clock starts at 4.5 s of show time
    saved.wall_s = time.time() - 3.0
    frozen = SimpleNamespace(t=100.0)
    typed2: list = []
    text2 = SimpleNamespace(out=None, follow=False, layer=SimpleNamespace(push=typed2.append))
    again, engine2, controls2 = _node(resume_from=saved, clock=LeaderClock(lambda: frozen.t),
                                      text=text2)
    assert typed2 == ["To be, or not"]  # the screen's text is back
    try:
        start = again.clock.now()
        assert start == pytest.approx(4.5, abs=0.05)
        # its engine catches up from 0 to the first reading, as Engine.run does; the walk is
        # set at the resume time and stepped on over the gap
        _run(engine2, controls2, 0.0, start, step=start)
        _run(engine2, controls2, start, start + 0.5)
        _run(engine, controls, 2.0, start + 0.5)  # the show that was never stopped
        assert engine2.walk.phase == pytest.approx(engine.walk.phase, abs=1e-9)
        np.testing.assert_allclose(engine2.walk.render(controls2), engine.walk.render(controls),
                                   atol=1e-9)
        np.testing.assert_allclose(controls2.total, controls.total, rtol=1e-9, atol=1e-9)
        assert engine2.bus.get("walk.speed") == 2.5 and engine2.walk.mode == "orbit"
        np.testing.assert_allclose(engine2.walk.cues[3], engine.walk.cues[3], atol=1e-5)
        assert again.last_prime == "To be"
    finally:
        again.close()


@pytest.mark.parametrize("content, reason", [
    ("{", "not JSON"),
    ('{"version": 9}', "not a version 1"),
    ('{"version": 1, "show_s": NaN, "wall_s": 1}', "show_s is not a time"),
    ('{"version": 1, "show_s": 1, "wall_s": 1, "scene": "gone"}', "no scene 'gone'"),
    ('{"version": 1, "show_s": 1, "wall_s": 1, "values": {"fx.hue": "red"}}',
     "values are not names"),
    ('{"version": 1, "show_s": 1, "wall_s": 1, "walk": "***"}', "not base64"),
    ('{"version": 1, "show_s": 1, "wall_s": 1, "text": 5}', "text is not a string"),
])
def test_a_damaged_saved_show_is_refused_with_the_reason(tmp_path, caplog, content, reason):
    path = tmp_path / "state.json"
    path.write_text(content)
    with caplog.at_level(logging.WARNING):
        assert resume.read(path, ["default"]) is None
    assert reason in caplog.text and "starting fresh" in caplog.text


def test_an_oversized_or_odd_file_is_refused_and_no_file_is_a_fresh_start(tmp_path, caplog):
    assert resume.read(tmp_path / "none.json") is None
    big = tmp_path / "big.json"
    with open(big, "wb") as out:
        out.truncate(resume.STATE_MAX_BYTES + 1)
    with caplog.at_level(logging.WARNING):
        assert resume.read(big) is None
        assert resume.read(tmp_path) is None  # a directory
    assert caplog.text.count("starting fresh") == 2


def test_a_walk_of_another_size_is_not_taken_but_the_rest_is(tmp_path):
    other = Walk(DIM * 2, seed=1)
    blob = relay.walk_state(other, Controls(REG))
    saved = resume.SavedShow(1.0, time.time(), "default", "", {"fx.hue": 0.25}, {}, blob)
    path = tmp_path / "s.json"
    resume.write(path, saved)
    assert json.loads(path.read_text())["version"] == resume.VERSION
    saved = resume.read(path)
    leader, engine, controls = _node(resume_from=saved)
    try:
        keyframes = engine.walk.keyframes.copy()
        start = leader.clock.now()
        _run(engine, controls, 0.0, start, step=start)
        assert engine.bus.get("fx.hue") == 0.25  # the values are restored
        np.testing.assert_array_equal(engine.walk.keyframes, keyframes)  # the walk is its own
    finally:
        leader.close()


def test_a_walk_rebuilt_on_the_leader_reaches_followers_once_their_model_is_in():
    """A scene switch to a model with another latent size rebuilds the walk: the leader sends
    the new one to every follower, and a follower still loading that model holds it until
    its own walk has the size, then steps it on from its stamp."""
    leader, engine, controls = _node()
    sent = []
    leader._send = lambda messages, to=None: sent.append((messages, to))
    try:
        _run(engine, controls, 0.0, 0.5)
        engine.walk = Walk(2 * DIM, seed=4)  # the engine's model swap
        _run(engine, controls, 0.5, 1.0)
        walks = [m for messages, to in sent for m in messages if b"/live/cluster/walk" in m]
        assert walks and all(to is None for _, to in sent)  # to every follower
    finally:
        leader.close()

    follower = relay.Follower(("127.0.0.1", 9), port=0, host="127.0.0.1",
                              trace=relay.Trace(None, "follower"))
    fengine = SimpleNamespace(bus=Bus(REG), registry=REG, walk=Walk(DIM, seed=0),
                              timeline=None)
    follower.attach(fengine)
    follower.session = 7
    big, big_controls = Walk(2 * DIM, seed=5), Controls(REG)
    big_controls.set_target("walk.speed", 1.7)
    big_controls.step(0.3)
    big.advance(0.3, big_controls, float(big_controls.integral[REG.index["walk.speed"]]))
    blob = relay.walk_state(big, big_controls)
    parts = [blob[i:i + relay.WALK_PART] for i in range(0, len(blob), relay.WALK_PART)]
    for i, part in enumerate(parts):
        follower._walk_part(1.0, 7, i, len(parts), part)
    fcontrols = Controls(REG)
    fengine.bus.publish("walk.speed", 1.7)  # as the leader's stamped values had set it
    _run(fengine, fcontrols, 0.9, 1.5)
    assert fengine.walk.dim == DIM  # held: this node's model is not in yet
    fengine.walk = Walk(2 * DIM, seed=0)  # now it is
    _run(fengine, fcontrols, 1.5, 1.6)
    big_controls.step(0.6)
    big.advance(0.6, big_controls, float(big_controls.integral[REG.index["walk.speed"]]))
    assert fengine.walk.phase == pytest.approx(big.phase, abs=1e-9)
    np.testing.assert_allclose(fengine.walk.render(fcontrols), big.render(big_controls),
                               atol=1e-9)


def test_a_walk_state_sets_the_leaders_targets_on_the_bus_and_keeps_later_stamped_changes():
    """A follower whose full-state values were lost (they came before it had the leader's
    clock) but whose walk state came: the walk's targets become the bus's too, so the next
    drain does not undo them; a change stamped after the walk's time stays this node's."""
    follower = relay.Follower(("127.0.0.1", 9), port=0, host="127.0.0.1",
                              trace=relay.Trace(None, "follower"))
    engine = SimpleNamespace(bus=Bus(REG), registry=REG, walk=Walk(DIM, seed=0), timeline=None)
    follower.attach(engine)
    follower.session = 7
    lead, lead_controls = Walk(DIM, seed=2), Controls(REG)
    lead_controls.set_target("walk.speed", 2.5)
    lead_controls.set_target("fx.hue", 40.0)
    lead_controls.step(1.0)
    blob = relay.walk_state(lead, lead_controls)
    parts = [blob[i:i + relay.WALK_PART] for i in range(0, len(blob), relay.WALK_PART)]
    follower.timeline.at(1.1, "fx.hue", 80.0)  # stamped after the walk's time, applied first
    controls = Controls(REG)
    _run(engine, controls, 0.0, 1.2)
    for i, part in enumerate(parts):  # the walk stamped 1.0 comes late, after the hue change
        follower._walk_part(1.0, 7, i, len(parts), part)
    _run(engine, controls, 1.2, 1.5)
    assert controls.target[REG.index["walk.speed"]] == 2.5
    assert engine.bus.get("walk.speed") == 2.5  # the drains since kept it
    assert controls.target[REG.index["fx.hue"]] == 80.0  # the later stamped change stayed
    lead_controls.step(0.5)
    lead.advance(0.5, lead_controls, float(lead_controls.integral[REG.index["walk.speed"]]))
    assert engine.walk.phase == pytest.approx(lead.phase, abs=1e-9)
