"""Live text: seeded sampling, priming, unknown characters, typing rate, the live text command."""

from __future__ import annotations

import json
import time

import pytest

from live.cli import main
from live.params import TriggerEvent
from live.store import load_model
from live.textgen import LOOKAHEAD, MAX_PRIME, TextGen, TextShow, fit_to_vocab
from tests.conftest import bus_and_controls, run_while, wait_for


@pytest.fixture(scope="module")
def rnn(repo=None):
    from tests.conftest import REPO

    return load_model("default-rnn", REPO / "models", kinds=("char-rnn",))




def test_seeded_text_is_deterministic_and_fast(capsys):
    runs = []
    for _ in range(2):
        assert main(["text", "--chars", "400", "--seed", "7", "--json"]) == 0
        runs.append(json.loads(capsys.readouterr().out))
    assert runs[0]["text"] == runs[1]["text"] and len(runs[0]["text"]) == 400
    assert main(["text", "--chars", "400", "--seed", "8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["text"] != runs[0]["text"]
    assert runs[0]["chars_per_s"] > 0


def test_prime_is_continued(capsys):
    assert main(["text", "--chars", "200", "--seed", "1", "--json",
                 "--prime", "ROMEO:\nWhat light through yonder"]) == 0
    primed = json.loads(capsys.readouterr().out)
    assert main(["text", "--chars", "200", "--seed", "1", "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert primed["prime"] == "ROMEO:\nWhat light through yonder"
    assert primed["text"] != plain["text"]  # the same seed, carried on from other words


def test_unknown_characters_are_mapped_or_dropped(rnn):
    vocab = rnn.module.cfg.vocab
    assert fit_to_vocab("caf\u00e9 na\u00efve \u2018quoted\u2019 \u2014 ok", vocab) == \
        "cafe naive 'quoted' - ok"
    assert fit_to_vocab("snow \u2603 man \U0001f600!", vocab) == "snow  man !"
    long = "word " * 100
    assert fit_to_vocab(long, vocab) == long[-MAX_PRIME:]
    assert fit_to_vocab("\u2603\u2603", vocab) == ""


def test_sampler_thread_fills_ahead_and_handles_prime_and_reset(rnn):
    gen = TextGen(rnn.module, seed=3)
    gen.start()
    try:
        assert wait_for(lambda: len(gen.ready) >= LOOKAHEAD)
        time.sleep(0.2)
        assert len(gen.ready) < LOOKAHEAD + 16  # bounded: it stops when far enough ahead
        gen.request("prime", "Friends, Rom\u00e4ns")
        assert wait_for(lambda: "".join(list(gen.ready)[:16]) == "\nFriends, Romans")
        assert gen.take(16) == "\nFriends, Romans"
        gen.request("reset")
        gen.request("sampling", (0.5, 5, 0.9))
        assert wait_for(lambda: gen.sampler.top_k == 5)
        assert gen.sampler.temperature == 0.5 and gen.sampler.top_p == 0.9
    finally:
        gen.close()


class Layer:
    def __init__(self):
        self.text = ""
        self.cleared = 0

    def push(self, chars):
        self.text += chars

    def clear(self):
        self.cleared += 1


def test_typing_rate_beats_and_bursts(rnn):
    gen = TextGen(rnn.module, seed=3)
    gen.start()
    try:
        assert wait_for(lambda: len(gen.ready) >= LOOKAHEAD)
        layer = Layer()
        show = TextShow(gen, layer)
        _, controls = bus_and_controls(text__visible=True, text__rate=12.0,
                                       text__beat_chars=5)
        for _ in range(120):  # two seconds at 60 fps
            show.frame(1 / 60, controls, beat=False)
        assert 23 <= len(layer.text) <= 25
        show.frame(1 / 60, controls, beat=True)
        assert 28 <= len(layer.text) <= 31
        before = len(layer.text)
        show.handle(TriggerEvent("text.burst", 0.5, 0))
        show.frame(0.0, controls, beat=False)
        assert len(layer.text) - before == 12
        show.handle(TriggerEvent("text.reset", 1.0, 0))
        assert layer.cleared == 1
        # hidden: nothing typed, no credit saved up for later
        _, hidden = bus_and_controls(text__visible=False, text__rate=50.0)
        before = len(layer.text)
        for _ in range(60):
            show.frame(1 / 60, hidden, beat=True)
        assert len(layer.text) == before
    finally:
        gen.close()


def test_empty_model_folder_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["text", "--model", str(tmp_path / "empty")]) == 2
    assert "no model.toml" in capsys.readouterr().err


def test_the_engine_types_over_the_picture(small_config, rnn):
    from live.cli import _prepare
    from live.engine import Engine

    scene, model, choice = _prepare(small_config, None, None)
    engine = Engine(small_config, model, choice, scene, headless=True, text_model=rnn)
    engine.bus.set("text.visible", True)
    engine.bus.set("text.rate", 80.0)
    engine.bus.trigger("text.prime", text="Once more unto the breach")

    def primed_text_shown():
        return any("Once more" in line for line in engine.text.layer.lines)

    def actions():
        # the sampler thread takes the prime when it gets the CPU: wait for it, however long
        # a loaded machine makes that, instead of counting on a fixed number of frames
        assert wait_for(primed_text_shown, timeout=60), engine.text.layer.lines

    run_while(engine, actions)
    assert engine.text.typed >= len("Once more")
    assert primed_text_shown()
    assert engine.text.layer.renders > 0
