"""OSC load for ``live bench`` and the tests: a paced flood of valid messages and seeded fuzz.

Both run in a separate process during a bench, sending over real UDP to the show's port, so
the sender's own work is not charged to the show's interpreter (it still shares the CPU, as a
laptop running TouchOSC's editor or Max beside the show would).
"""

from __future__ import annotations

import random
import socket
import struct
import time

from pythonosc.osc_message_builder import build_msg
from pythonosc.parsing import osc_types

from live.params import Registry

FLOOD_ADDRESSES = ("/live/norm/fx/hue", "/live/norm/walk/pc1", "/live/norm/walk/pc2",
                   "/live/norm/fx/saturation", "/live/fx/rotate", "/live/norm/walk/energy")


def flood_packets(count: int = 4096, seed: int = 0) -> list[bytes]:
    """Valid single-message packets moving faders, as a controller being played would."""
    rng = random.Random(seed)
    packets = []
    for i in range(count):
        address = FLOOD_ADDRESSES[i % len(FLOOD_ADDRESSES)]
        value = rng.uniform(-20, 20) if address == "/live/fx/rotate" else rng.random()
        packets.append(build_msg(address, [value]).dgram)
    return packets


def _bundle(timetag: bytes, *parts: bytes) -> bytes:
    body = [b"#bundle\0", timetag]
    for part in parts:
        body += [struct.pack(">i", len(part)), part]
    return b"".join(body)


def fuzz_packets(count: int, seed: int = 0, registry: Registry | None = None,
                 skip: tuple[str, ...] = ()) -> list[bytes]:
    """Seeded garbage in four flavours: random bytes, valid packets with flipped bytes, valid
    addresses with random type tags and bodies, and bundles with random timetags and contents.
    Addresses starting with one of ``skip`` are not used as seeds (the bench leaves out
    ``/live/show/``: starting a recording or a snapshot is heavy by design, and the fuzz
    measures the input path, not x264 sharing two cores).
    """
    registry = registry or Registry()
    rng = random.Random(seed)
    addresses = [a for p in registry for a in (p.address, p.norm_address)
                 if not a.startswith(skip) or not skip]
    addresses += ["/live/sync", "/live/fx/*", "/nowhere"]
    valid = [build_msg(a, [rng.random()]).dgram for a in addresses]
    packets = []
    for i in range(count):
        kind = i % 4
        if kind == 0:
            data = rng.randbytes(rng.randrange(0, 96))
        elif kind == 1:
            mutable = bytearray(rng.choice(valid))
            for _ in range(rng.randrange(1, 4)):
                mutable[rng.randrange(len(mutable))] = rng.randrange(256)
            data = bytes(mutable)
        elif kind == 2:
            tags = "".join(rng.choice("ifsdTFNbhI[]x") for _ in range(rng.randrange(0, 6)))
            data = (osc_types.write_string(rng.choice(addresses))
                    + osc_types.write_string("," + tags) + rng.randbytes(rng.randrange(0, 32)))
        else:
            data = _bundle(rng.randbytes(8), rng.choice(valid),
                           rng.randbytes(rng.randrange(0, 24)))
        packets.append(data)
    return packets


def send_paced(port: int, packets: list[bytes], rate: float, seconds: float,
               host: str = "127.0.0.1") -> tuple[int, float]:
    """Send ``packets`` round-robin at ``rate`` per second for ``seconds`` (or until all sent
    when ``seconds`` is 0 and ``rate`` is 0: as fast as possible, once). Returns (sent, wall).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    target = (host, port)
    sent = 0
    start = time.perf_counter()
    n = len(packets)
    try:
        if rate <= 0:
            for data in packets:
                sock.sendto(data, target)
            return len(packets), time.perf_counter() - start
        while True:
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
            due = int(elapsed * rate) + 1
            while sent < due:
                sock.sendto(packets[sent % n], target)
                sent += 1
            time.sleep(0.0005)
    finally:
        sock.close()
    return sent, time.perf_counter() - start


def load_process(port: int, mode: str, rate: float, seconds, count: int, ready, go, done,
                 result) -> None:
    """Body of the bench's load process: build the packets, wait for ``go``, send at ``rate``
    for ``seconds.value`` seconds (flood) or until ``count`` packets are sent (fuzz), report
    (sent, wall seconds) through ``result``."""
    packets = flood_packets() if mode == "flood" else fuzz_packets(
        count, seed=7, skip=("/live/show/", "/live/norm/show/"))
    ready.set()
    go.wait()
    duration = seconds.value if mode == "flood" else count / rate
    result.put(send_paced(port, packets, rate, duration))
    done.set()
