"""The `live` command: run | bench | models | train | data | sample | eval.

Every command takes ``--config FILE`` and ``--set section.key=value`` (repeatable). Problems a
user can fix (a bad config, an unknown model or scene, no display) print one clear message and
exit with status 2; they never end in a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from live import config as config_mod

log = logging.getLogger("live")

EXIT_USAGE = 2


class UserError(Exception):
    """A problem with the user's input: printed as one line, exit status 2."""


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if w < 16 or h < 16:
        raise argparse.ArgumentTypeError(f"size too small: {text}")
    return w, h


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None,
                        help="config file (default: ./config.toml, else the one shipped "
                             "beside the package)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE",
                        help="override one config key (display.size=1920x1080) or set a show "
                             "parameter for this run (walk.speed=2); repeatable")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="live", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="open the show window (or run headless)")
    _common(run)
    run.add_argument("--scene", help="scene name in the scenes folder, or a .toml path")
    run.add_argument("--model", help="model name in the models folder (overrides the scene's)")
    run.add_argument("--headless", action="store_true", help="no window (dummy video driver)")
    run.add_argument("--frames", type=int, default=None, help="stop after N frames")
    run.add_argument("--record", type=Path, default=None, metavar="OUT.mp4",
                     help="record the output (without the HUD) to an .mp4, .mov or .mkv; "
                          "fragmented, so a cut file still plays")
    run.add_argument("--ndi", nargs="?", const="", default=None, metavar="NAME",
                     help="send the output as an NDI source named NAME (default: "
                          "output.ndi_name); needs pip install 'live[ndi]'")
    run.add_argument("--leader", action="store_true",
                     help="lead a show on several machines: stamp and relay every control "
                          "to the followers (docs/cluster.md)")
    run.add_argument("--follow", default=None, nargs="?", const="", metavar="HOST[:PORT]",
                     help="follow the leader at HOST (PORT: its OSC port, default osc.port; "
                          "no HOST: cluster.leader, else find it with zeroconf); "
                          "the relay port is cluster.port (docs/cluster.md)")
    run.add_argument("--fullscreen", action="store_true", help="start fullscreen")
    run.add_argument("--hud", action="store_true", help="start with the HUD shown")
    run.add_argument("--playlist", type=Path, default=None, metavar="FILE",
                     help="gallery mode: rotate scenes on a timer / daily schedule, keep the "
                     "state across restarts, watchdog (docs/scenes.md)")
    run.add_argument("--audio-file", type=Path, default=None, metavar="FILE",
                     help="analyse a wav/flac file in real time instead of the sound card")
    run.add_argument("--audio-play", action="store_true",
                     help="with --audio-file: also play it out of the default output device")

    bench = sub.add_parser("bench", help="measure the engine path headless")
    _common(bench)
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument("--frames", type=int, default=600)
    bench.add_argument("--size", type=_size, default=None, help="output WxH (default: config)")
    bench.add_argument("--device", default=None, help="auto | cpu | cuda | mps")
    bench.add_argument("--model", default=None)
    bench.add_argument("--scene", default=None)
    bench.add_argument("--osc-flood-rate", type=float, default=20000.0, metavar="MSGS_PER_S",
                       help="OSC messages/s sent in the flood phase (0 = no flood phase)")
    bench.add_argument("--osc-fuzz", type=int, default=100_000, metavar="PACKETS",
                       help="fuzzed OSC packets sent in the fuzz phase (0 = no fuzz phase)")
    bench.add_argument("--scene-switch", type=int, nargs="?", const=6, default=0,
                       metavar="N", help="switch scenes N times (default 6) after the quiet "
                       "phase and report switch_max_frame_ms")
    bench.add_argument("--isf", metavar="SHADER[,SHADER...]", default="",
                       help="these ISF shaders as the scene's layers instead of its own, "
                            "bottom first (gradient_map,posterize,scanlines); none = no "
                            "ISF layers")
    bench.add_argument("--text", action="store_true",
                       help="live text on (the scene's char-RNN typing 30 chars/s)")
    bench.add_argument("--ndi", nargs="?", const="show", default=None,
                       choices=("show", "alone"),
                       help="NDI out to a receiver process on loopback: send fps, dropped "
                            "frames, composed-to-received latency p50/p99 (show: with the "
                            "whole show; alone: only the send path, a redrawn framebuffer "
                            "at output.fps for --ndi-seconds); docs/video-out.md")
    bench.add_argument("--ndi-seconds", type=float, default=60.0, metavar="S",
                       help="--ndi alone: seconds measured (default 60)")
    bench.add_argument("--remote", action="store_true",
                       help="the browser remote on a running show: frame times without and "
                            "with a preview watcher (--frames each), then UDP -> page fader "
                            "latency in headless Chromium (--remote-changes); docs/remote.md")
    bench.add_argument("--remote-changes", type=int, default=300, metavar="N",
                       help="--remote: values timed to the page's fader (default 300)")
    bench.add_argument("--cluster", action="store_true",
                       help="one show on hosts in network namespaces (root): Link beat "
                            "agreement (probes, then three nodes' frames), then a leader, a "
                            "follower, a late joiner and a 4-fps follower as real processes: "
                            "clock agreement, controls applied at the same show time, late "
                            "join, the walks after speed changes; docs/cluster.md")
    bench.add_argument("--cluster-controls", type=int, default=200, metavar="N",
                       help="--cluster: controls sent to the leader (default 200)")

    soak = sub.add_parser("soak", help="fast-forward the whole show for a long time, watching "
                                       "memory, file handles and threads")
    _common(soak)
    soak.add_argument("--frames", type=int, default=100_000)
    soak.add_argument("--size", type=_size, default=(64, 36), help="output WxH")
    soak.add_argument("--decode-every", type=int, default=10, metavar="N",
                      help="decode every N-th frame only (everything else runs every frame)")
    soak.add_argument("--switch-every", type=int, default=2000, metavar="FRAMES",
                      help="switch to the next scene every this many frames (0 = never)")
    soak.add_argument("--settle", type=int, default=5000, metavar="FRAMES",
                      help="frames before the memory baseline is taken")
    soak.add_argument("--json", action="store_true", help="print one JSON object")

    models = sub.add_parser("models", help="list the model folders")
    _common(models)

    osc = sub.add_parser("osc", help="print the OSC namespace (markdown for docs/osc.md, "
                                     "or OSCQuery JSON)")
    _common(osc)
    osc.add_argument("--out", type=Path, help="write the markdown here (e.g. docs/osc.md)")
    osc.add_argument("--json", action="store_true", help="print the OSCQuery tree instead")

    analyze = sub.add_parser("analyze", help="run the streaming audio analysis over a file")
    _common(analyze)
    analyze.add_argument("--audio-file", type=Path, required=True, metavar="FILE",
                         help="a wav/flac/ogg file at 8-384 kHz, read in blocks (any length)")
    analyze.add_argument("--json", action="store_true", help="print one JSON object")
    analyze.add_argument("--blocksize", type=int, default=None,
                         help="frames per block, 16..65536 (default: [audio] blocksize)")

    scenes = sub.add_parser("scenes", help="scene files")
    scene_commands = scenes.add_subparsers(dest="scenes_command", required=True)
    check = scene_commands.add_parser("check", help="validate scene files (all in the scenes "
                                                    "folder when none are given)")
    _common(check)
    check.add_argument("files", nargs="*", type=Path)

    shaders = sub.add_parser("shaders", help="ISF shaders: list them, or check them")
    _common(shaders)
    shaders.add_argument("--json", action="store_true", help="print JSON lines")
    shader_commands = shaders.add_subparsers(dest="shaders_command")
    check_shaders = shader_commands.add_parser(
        "check", help="parse, compile and render each shader for a few frames (all found when "
                      "none are given); every failure as file:line, then the pass rate")
    _common(check_shaders)
    check_shaders.add_argument("targets", nargs="*", type=Path, metavar="FILE_OR_DIR")
    check_shaders.add_argument("--json", action="store_true", help="print JSON lines")
    cost_shaders = shader_commands.add_parser(
        "cost", help="milliseconds each shader takes to draw one frame on this machine")
    _common(cost_shaders)
    cost_shaders.add_argument("targets", nargs="*", type=Path, metavar="FILE_OR_DIR")
    cost_shaders.add_argument("--json", action="store_true", help="print JSON lines")
    cost_shaders.add_argument("--size", type=_size, default=(1280, 720),
                              help="frame size WxH (default 1280x720)")
    cost_shaders.add_argument("--one-program", action="store_true",
                              help="ISF's one program for all passes (PASSINDEX a uniform), "
                                   "to compare with live's program per pass")

    text = sub.add_parser("text", help="generate text with a char-RNN, as the show does")
    _common(text)
    text.add_argument("--model", default="default-rnn", help="char-RNN model name or folder")
    text.add_argument("--chars", type=int, default=500)
    text.add_argument("--temperature", type=float, default=0.8)
    text.add_argument("--top-k", type=int, default=0)
    text.add_argument("--top-p", type=float, default=1.0)
    text.add_argument("--prime", default="", help="words to continue from")
    text.add_argument("--seed", type=int, default=0)
    text.add_argument("--json", action="store_true", help="print one JSON object")

    layout = sub.add_parser("layout", help="write the TouchOSC layout generated from the "
                                           "parameters")
    _common(layout)
    importlib.import_module("live.control.touchosc").add_arguments(layout)

    train = sub.add_parser("train", help="train a model folder")
    kinds = train.add_subparsers(dest="kind", required=True)
    for kind, module in TRAINERS.items():
        try:
            trainer = importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a trainer still being written
            if exc.name != module:
                raise
            continue
        sub_parser = kinds.add_parser(kind, help=trainer.__doc__.splitlines()[0])
        _common(sub_parser)
        trainer.add_arguments(sub_parser)

    data = sub.add_parser("data", help="make training data")
    makers = data.add_subparsers(dest="maker", required=True)
    procedural = makers.add_parser("procedural", help="abstract compositions to train on")
    _common(procedural)
    importlib.import_module("live.train.procedural").add_arguments(procedural)

    imports = sub.add_parser("import", help="bring a model from another tool into models/")
    _common(imports)
    import_kinds = imports.add_subparsers(dest="import_kind", required=True)
    stylegan = import_kinds.add_parser(
        "stylegan", help="a StyleGAN2-ADA / StyleGAN3 network pickle, read without running "
                         "anything in it (docs/stylegan.md)")
    _common(stylegan)
    stylegan.add_argument("file", type=Path, help="network-snapshot-*.pkl")
    stylegan.add_argument("--out", type=Path, required=True, help="the model folder to write "
                          "(models/NAME); it must not exist")
    stylegan.add_argument("--network", default="G_ema", choices=("G_ema", "G"),
                          help="which generator to take (default G_ema, the smoothed one)")
    stylegan.add_argument("--class", dest="label", type=int, default=0,
                          help="class index a conditional model shows (default 0)")
    stylegan.add_argument("--description", default="", help="one line for model.toml")

    sample = sub.add_parser("sample", help="a grid of pictures (or text) from a model")
    _common(sample)
    sample.add_argument("model", help="model name or folder")
    sample.add_argument("--out", type=Path, required=True, help="PNG (pictures) or text file")
    sample.add_argument("--n", type=int, default=16, help="how many pictures")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--truncation", type=float, default=0.8)
    sample.add_argument("--chars", type=int, default=2000, help="characters (char-rnn)")
    sample.add_argument("--z", type=Path, default=None, metavar="Z.npy",
                        help="render these latents [N, z_dim] instead of random ones (with "
                             "--out OUT.npy: the raw floats [N, 3, H, W])")
    sample.add_argument("--c", type=Path, default=None, metavar="C.npy",
                        help="class vectors [N, c_dim] of a conditional model")
    sample.add_argument("--noise", default="const", choices=("const", "random", "none"),
                        help="noise mode of an imported StyleGAN (default const)")

    evaluate = sub.add_parser("eval", help="measure a model on held-out data")
    _common(evaluate)
    evaluate.add_argument("model", help="model name or folder")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--text", type=Path, help="text file (char-rnn): last 10%% is scored")
    evaluate.add_argument("--images", type=Path, help="image folder (vae): held-out split")
    evaluate.add_argument("--seed", type=int, default=0)
    return parser


def _load_config(args: argparse.Namespace) -> config_mod.Config:
    path = args.config
    if path is None:  # ./config.toml, else the one shipped beside the package
        for candidate in (Path("config.toml"), config_mod.PROJECT_DIR / "config.toml"):
            if candidate.is_file():
                path = candidate
                break
    try:
        return config_mod.load(path, args.overrides)
    except config_mod.ConfigError as exc:
        raise UserError(f"config error: {exc}") from None


def _prepare(cfg: config_mod.Config, scene_name: str | None, model_name: str | None,
             device: str | None = None):
    """Scene, model and device for a run or bench; user mistakes become UserError."""
    from live.device import pick_device
    from live.layers import show_registry, use_library
    from live.scenes import SceneError, load_scene
    from live.store import ModelError, load_generator

    # the fixed parameters and every scene's ISF layer inputs, which maps may name
    registry = show_registry(cfg.path("scenes"), use_library(cfg))
    try:
        scene = load_scene(scene_name or cfg.show.scene, cfg.path("scenes"), registry)
    except SceneError as exc:
        raise UserError(str(exc)) from None
    if cfg.params:  # --set walk.speed=2: over the starting scene, for this run
        from dataclasses import replace

        scene = replace(scene, values={**scene.values, **dict(cfg.params)})
    name = model_name or cfg.show.model or scene.model
    try:
        if name.startswith("random:"):  # the decode cost of a StyleGAN of that shape
            from live.stylegan.importer import random_model

            model = random_model(name)
        else:
            model = load_generator(name, cfg.path("models"), seed=cfg.show.seed)
    except ModelError as exc:
        raise UserError(str(exc)) from None
    except ValueError as exc:  # SnapshotError
        raise UserError(f"--model: {exc}") from None
    choice = pick_device(device or cfg.engine.device, cfg.engine.precision, cfg.engine.threads)
    return scene, model, choice


def cmd_run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from live.control.midi import MidiMapError
    from live.control.surface import ControlSurface
    from live.engine import Engine
    from live.render.display import DisplayError
    from live.render.record import RecordError, check_record_path

    cfg = _load_config(args)
    display = cfg.display
    if args.fullscreen:
        display = replace(display, fullscreen=True)
    if args.hud:
        display = replace(display, hud=True)
    cfg = replace(cfg, display=display)
    cluster = _cluster_node(cfg, args)
    if cluster is not None and cluster.role == "follower":
        # controllers and audio analysis talk to the leader; its features come relayed
        cfg = replace(cfg, midi=replace(cfg.midi, enabled=False),
                      audio=replace(cfg.audio, enabled=False))
    if args.record is not None:  # a bad target is one line now, not a broken pipe later
        try:
            check_record_path(args.record)
        except RecordError as exc:
            raise UserError(str(exc)) from None
    # handlers first: a signal while the model loads or warms up must stop cleanly too
    stop = threading.Event()

    def on_signal(signum, _frame):
        if stop.is_set():  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        log.info("signal %d: finishing the current frame and stopping", signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        gallery = _gallery(cfg, args) if args.playlist else None
        resumed = getattr(cluster, "resume_from", None)  # a leader going on from its save
        scene_name = (args.scene or (resumed.scene if resumed is not None else None)
                      or (gallery["scene"] if gallery else None))
        scene, model, choice = _prepare(cfg, scene_name, args.model)
        fixed_dt = 1.0 / cfg.record.fps if args.headless and args.frames and args.record else None
        text_model = _text_model(cfg, scene)
        try:
            engine = Engine(cfg, model, choice, scene, headless=args.headless,
                            record=args.record, fixed_dt=fixed_dt, stop=stop,
                            text_model=text_model,
                            clock=cluster.clock if cluster is not None else None)
        except (DisplayError, RecordError) as exc:
            raise UserError(str(exc)) from None
        log.info("live: %s on %s, scene %s, output %s", engine.model_name, choice.label,
                 scene.name, "x".join(map(str, engine.display.output_size)))
        try:
            surface = ControlSurface(cfg, engine, args.audio_file, args.audio_play,
                                     cluster=cluster)
        except MidiMapError as exc:
            engine.close()
            raise UserError(f"config error: {cfg.source}: midi.maps: {exc}") from None
        engine.start_outputs(args.ndi)
        surface.start()
        extras = _start_gallery(cfg, gallery, engine, surface) if gallery else []
        try:
            shown = engine.run(args.frames)
        finally:
            for part in extras:
                part.close()
            surface.close()
        log.info("stopped after %d frames", shown)
        if args.record is not None and engine.recording_error:
            return 1  # the recording asked for failed; the log said what the file holds
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _cluster_node(cfg: config_mod.Config, args: argparse.Namespace):
    """The leader or follower ``--leader`` / ``--follow`` / ``[cluster] role`` ask for."""
    if args.leader and args.follow is not None:
        raise UserError("--leader and --follow: a node is one or the other")
    from live.cluster.relay import make_node
    from live.scenes import list_scenes

    try:
        return make_node(cfg.cluster, cfg.osc.port, args.leader, args.follow,
                         cfg.path("cluster_state"), list_scenes(cfg.path("scenes")))
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _gallery(cfg: config_mod.Config, args: argparse.Namespace) -> dict:
    """The playlist and the saved state (read before anything starts).

    The state only chooses among the scene files in the scenes folder, and a saved scene
    that is gone or no longer loads gives way to the playlist's scene: an unattended show
    must start whatever its state file says (systemd would otherwise restart it in a loop).
    """
    from live.gallery import PlaylistError, load_playlist, read_state
    from live.layers import show_registry, use_library
    from live.scenes import SceneError, list_scenes, load_scene

    scenes_dir = cfg.path("scenes")
    known = list_scenes(scenes_dir)
    try:
        playlist = load_playlist(args.playlist, known)
    except PlaylistError as exc:
        raise UserError(str(exc)) from None
    state = read_state(cfg.path("state"), known, len(playlist.entries))
    index = state.playlist_index if state is not None else 0
    saved_scene = state.scene if state is not None else ""
    if saved_scene:
        try:
            load_scene(saved_scene, scenes_dir, show_registry(scenes_dir, use_library(cfg)))
        except SceneError as exc:
            log.warning("gallery: the saved scene cannot be used, starting from the "
                        "playlist: %s", exc)
            saved_scene = ""
        else:
            log.info("gallery: restoring %s (saved %s)", saved_scene, state.saved_at)
    order_scene = playlist.entries[index].scene if not playlist.shuffle else None
    return {"playlist": playlist, "state": state, "index": index,
            "scene": saved_scene or order_scene}


def _start_gallery(cfg: config_mod.Config, gallery: dict, engine, surface) -> list:
    from live.gallery import Playlist, StateKeeper, Watchdog, restore

    if gallery["state"] is not None:
        restore(gallery["state"], engine, surface)
    playlist = Playlist(gallery["playlist"], engine.bus, index=gallery["index"])
    keeper = StateKeeper(cfg.path("state"), engine, surface, playlist)
    parts = [playlist, keeper]
    if cfg.show.watchdog_s > 0:
        parts.append(Watchdog(engine, cfg.show.watchdog_s, on_stall=keeper.save))
    for part in parts:
        part.start()
    return parts


def _text_model(cfg: config_mod.Config, scene):
    """The scene's char-RNN for the live text, or None (with a warning) when it is missing."""
    from live.store import ModelError, load_model

    try:
        return load_model(scene.text_model, cfg.path("models"), kinds=("char-rnn",))
    except ModelError as exc:
        log.warning("no live text: %s", exc)
        return None


def cmd_bench(args: argparse.Namespace) -> int:
    from live.bench import run_bench, run_ndi_bench

    cfg = _load_config(args)
    if args.cluster:
        result = _cluster_bench(args.cluster_controls)
        print(json.dumps(result) if args.json else json.dumps(result, indent=2))
        return 0 if "error" not in result else 1
    if args.ndi == "alone":  # the send path only: no model, no show
        result = run_ndi_bench(cfg, args.size or cfg.display.size, args.ndi_seconds)
        print(json.dumps(result) if args.json else json.dumps(result, indent=2))
        return 0
    scene, model, choice = _prepare(cfg, args.scene, args.model, args.device)
    if args.isf:
        scene = _with_isf_layers(scene, args.isf)
    if args.remote:
        from live.remote.bench import run_remote_bench

        result = run_remote_bench(cfg, model, choice, scene, args.frames,
                                  args.size or cfg.display.size, args.remote_changes)
        print(json.dumps(result) if args.json else json.dumps(result, indent=2))
        return 0
    text_model = _text_model(cfg, scene) if args.text else None
    if args.text and text_model is None:
        raise UserError(f"--text: the scene's text model {scene.text_model!r} is missing")
    result = run_bench(cfg, model, choice, scene, args.frames, args.size or cfg.display.size,
                       flood_rate=args.osc_flood_rate, fuzz_count=args.osc_fuzz,
                       text_model=text_model, switches=args.scene_switch,
                       ndi=args.ndi == "show")
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>26}: {value}")
    return 0


def _cluster_bench(controls: int) -> dict:
    """``live bench --cluster``: live/cluster/linkprobe.py, clusterbench.py and linkbeat.py
    (Link's beat as three real nodes' frames use it) in one report."""
    import tempfile

    from live.cluster import clusterbench, linkbeat, linkprobe
    from live.cluster.netns import available

    reason = available()
    if reason:
        return {"error": reason}
    result: dict = {}
    try:
        import link  # noqa: F401  (LinkPython-extern)
    except ImportError:
        result["link"] = {"skipped": "LinkPython-extern is not installed"}
    else:
        result["link"] = linkprobe.measure(hosts=3, seconds=20.0)
        with tempfile.TemporaryDirectory(prefix="live-linkbeat-bench-") as workdir:
            result["link_beat_in_frames"] = linkbeat.bench(20.0, Path(workdir))
    with tempfile.TemporaryDirectory(prefix="live-cluster-bench-") as workdir:
        relay = clusterbench.bench(controls, max(controls / 10.0, 5.0), Path(workdir))
    relay.pop("traces", None)
    result["relay"] = relay
    return result


def _with_isf_layers(scene, names: str):
    """``scene`` with ISF layers ``bench1``, ``bench2``, ... instead of its own, one per
    shader named (``live bench --isf``; ``none``: no ISF layers), each at its defaults."""
    from dataclasses import replace

    from live.layers import LayerError, parse_layers

    tables = [{"name": f"bench{i + 1}", "shader": name.strip()}
              for i, name in enumerate(names.split(",")) if name.strip() not in ("", "none")]
    try:
        specs = parse_layers(tables, "", scene.path or Path("bench.toml"))
    except LayerError as exc:
        raise UserError(f"--isf: {exc}") from None
    return replace(scene, layers=specs)


def cmd_soak(args: argparse.Namespace) -> int:
    from live.soak import run_soak

    cfg = _load_config(args)
    scene, model, choice = _prepare(cfg, None, None)
    result = run_soak(cfg, model, choice, scene, args.frames, args.size, args.decode_every,
                      args.switch_every, args.settle, _text_model(cfg, scene))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>18}: {value}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from live.store import list_models

    cfg = _load_config(args)
    folder = cfg.path("models")
    found = list_models(folder)
    if not found:
        print(f"no model folders in {folder}")
    for info in found:
        arch = info.meta.get("arch", {})
        res = arch.get("resolution", "")
        print(f"{info.name:<20} {info.kind:<9} {res!s:>5}  {info.meta.get('description', '')}")
    return 0


def cmd_osc(args: argparse.Namespace) -> int:
    from live.control.namespace_doc import markdown
    from live.params import Bus

    if args.json:  # the namespace a show would serve: with the scenes' ISF layer inputs
        from live.control.oscquery import Namespace
        from live.layers import show_registry, use_library

        cfg = _load_config(args)
        namespace = Namespace(Bus(show_registry(cfg.path("scenes"), use_library(cfg))))
        namespace.refresh()
        print(json.dumps(namespace.root, indent=1))
        return 0
    text = markdown()
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    """``live analyze``: the show's streaming analysis over a file, and the callback's cost.

    Every refusal (no such file, not a regular file, no samples, a sample rate or block size
    the analysis cannot use, not audio) is one line and exit 2; the file is streamed.
    """
    from live.control.audio_analysis import MAX_BLOCKSIZE, MIN_BLOCKSIZE, analyze_file
    from live.safeio import FileReadError

    cfg = _load_config(args)
    if args.blocksize is not None:
        blocksize, origin = args.blocksize, "--blocksize"
    else:
        blocksize, origin = cfg.audio.blocksize, f"{cfg.source}: audio.blocksize"
    if not MIN_BLOCKSIZE <= blocksize <= MAX_BLOCKSIZE:
        raise UserError(f"{origin} {blocksize}: expected {MIN_BLOCKSIZE}..{MAX_BLOCKSIZE} "
                        "frames per block")
    try:
        result = analyze_file(args.audio_file, blocksize=blocksize)
        result.update(_callback_cost(args.audio_file, blocksize))
    except FileReadError as exc:  # names the file itself
        raise UserError(f"cannot analyse {exc}") from None
    except (RuntimeError, ValueError, OSError) as exc:  # soundfile's errors included
        raise UserError(f"cannot analyse {args.audio_file}: {exc}") from None
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            if isinstance(value, list):
                value = f"{len(value)}: " + " ".join(f"{v:.3f}" for v in value[:12]) + (
                    " ..." if len(value) > 12 else "")
            print(f"{key:>22}: {value}")
    return 0


def _callback_cost(path: Path, blocksize: int) -> dict:
    """The input callback's cost on this file's blocks, against the block's duration.

    The blocks are streamed from the file (one reused buffer), as the show's file input does;
    the first 20 s are timed: plenty for a p99, and a long file costs no more.
    """
    import itertools
    import math

    import numpy as np

    from live.control.audio import callback_cost_us
    from live.control.audio_analysis import file_blocks, open_audio_file

    with open_audio_file(path) as sound:
        rate = sound.samplerate
        count = max(1, math.ceil(20.0 * rate / blocksize))
        blocks = itertools.islice(file_blocks(sound, blocksize), count)
        cost = callback_cost_us(blocks, rate, blocksize)
    block_us = blocksize / rate * 1e6
    return {"callback_us_p50": round(float(np.percentile(cost, 50)), 2),
            "callback_us_p99": round(float(np.percentile(cost, 99)), 2),
            "callback_share_of_block_p99": round(float(np.percentile(cost, 99)) / block_us, 5)}


def cmd_text(args: argparse.Namespace) -> int:
    import time

    from live.device import torch_threads
    from live.store import ModelError, load_model
    from live.textgen import fit_to_vocab

    cfg = _load_config(args)
    try:
        loaded = load_model(args.model, cfg.path("models"), kinds=("char-rnn",))
    except ModelError as exc:
        raise UserError(str(exc)) from None
    if args.chars < 1 or not 0 < args.top_p <= 1 or args.temperature <= 0:
        raise UserError("--chars must be >= 1, --temperature > 0, --top-p in (0, 1]")
    sampler = loaded.module.sampler(args.temperature, args.top_k, args.seed, args.top_p)
    prime = fit_to_vocab(args.prime, sampler.vocab)
    with torch_threads(1):  # as the show's sampler thread runs
        sampler.feed(prime)
        started = time.perf_counter()
        text = sampler.generate(args.chars)
        seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps({"model": loaded.name, "prime": prime, "text": text,
                          "chars": len(text), "chars_per_s": round(len(text) / seconds),
                          "temperature": args.temperature, "top_k": args.top_k,
                          "top_p": args.top_p, "seed": args.seed}))
    else:
        print(prime + text)
    return 0


def cmd_scenes(args: argparse.Namespace) -> int:
    """``live scenes check [FILES]``: every problem as file:line; exit 1 when there is one."""
    from live.layers import show_registry, use_library
    from live.scenes import SceneError, check_scene, list_scenes

    cfg = _load_config(args)
    folder = cfg.path("scenes")
    files = args.files or [folder / f"{name}.toml" for name in list_scenes(folder)]
    if not files:
        raise UserError(f"no scene files in {folder}")
    registry = show_registry(folder, use_library(cfg))  # maps may name ISF layer inputs
    failed = 0
    for path in files:
        try:
            problems = check_scene(path, registry, cfg.path("models"))
        except SceneError as exc:
            problems = [str(exc)]
        for problem in problems:
            print(problem)
        if problems:
            failed += 1
        else:
            print(f"{path}: ok")
    print(f"{len(files) - failed} of {len(files)} scene files ok")
    return 1 if failed else 0


def cmd_shaders(args: argparse.Namespace) -> int:
    """``live shaders`` lists the ISF shaders found; ``live shaders check`` checks them."""
    from live.render.isf.library import run_command

    cfg = _load_config(args)
    return run_command(cfg, args.shaders_command, getattr(args, "targets", []), args.json,
                       getattr(args, "size", (1280, 720)), getattr(args, "one_program", False))


def cmd_layout(args: argparse.Namespace) -> int:
    from live.control import touchosc

    return touchosc.run(args)


def cmd_train(args: argparse.Namespace) -> int:
    trainer = importlib.import_module(TRAINERS[args.kind])
    return trainer.run(args)


def cmd_data(args: argparse.Namespace) -> int:
    return importlib.import_module("live.train.procedural").run(args)


def _load_any(args: argparse.Namespace):
    from live.store import ModelError, load_model

    cfg = _load_config(args)
    try:
        return load_model(args.model, cfg.path("models"))
    except ModelError as exc:
        raise UserError(str(exc)) from None


def cmd_import(args: argparse.Namespace) -> int:
    """``live import stylegan FILE.pkl --out models/NAME``: exit 2 and nothing written on
    any refusal."""
    from live.stylegan.importer import import_snapshot
    from live.stylegan.snapshot import SnapshotError

    command = "live " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["import"] else ""
    try:
        meta = import_snapshot(args.file, args.out, args.network, args.label,
                               args.description, command)
    except SnapshotError as exc:
        raise UserError(f"import stylegan: {exc}") from None
    labelled = f"conditional (class {meta['label']})" if meta["c_dim"] else "unconditional"
    print(f"wrote {args.out}: {meta['kind']}, {meta['resolution']} px, {labelled}, "
          f"from {meta['source']['file']} ({meta['source']['network']})")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from live.latents import LatentsError, run_sample

    loaded = _load_any(args)
    try:
        if loaded.kind != "char-rnn" and run_sample(loaded, args):
            print(f"wrote {args.out}")
            return 0
    except LatentsError as exc:
        raise UserError(str(exc)) from None
    trainer = importlib.import_module(TRAINERS[KIND_TRAINER[loaded.kind]])
    trainer.sample(loaded, args)
    print(f"wrote {args.out}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    loaded = _load_any(args)
    trainer = importlib.import_module(TRAINERS[KIND_TRAINER[loaded.kind]])
    try:
        result = {"model": loaded.name, "kind": loaded.kind, **trainer.evaluate(loaded, args)}
    except (ValueError, OSError) as exc:
        raise UserError(str(exc)) from None
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>20}: {value}")
    return 0


TRAINERS = {"vae": "live.train.vae", "gan": "live.train.gan", "rnn": "live.train.rnn"}
KIND_TRAINER = {"vae": "vae", "gan": "gan", "char-rnn": "rnn"}
COMMANDS = {"run": cmd_run, "bench": cmd_bench, "models": cmd_models, "osc": cmd_osc,
            "layout": cmd_layout, "analyze": cmd_analyze, "text": cmd_text,
            "scenes": cmd_scenes, "shaders": cmd_shaders, "soak": cmd_soak, "train": cmd_train,
            "import": cmd_import,
            "data": cmd_data, "sample": cmd_sample, "eval": cmd_eval}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    if args.command == "train":
        from live.train.common import remember_command

        remember_command(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        return COMMANDS[args.command](args)
    except UserError as exc:
        print(f"live: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
