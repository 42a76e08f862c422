"""Training data: the image-folder loader and the procedural generator."""

import logging
import struct

import numpy as np
import pygame
import pytest

from live.cli import main
from live.train.images import ImageFolder
from live.train.procedural import composition


def save(surface, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    pygame.image.save(surface, str(path))


def test_loader_is_recursive_converts_and_crops(tmp_path):
    wide = pygame.Surface((60, 20))
    wide.fill((255, 0, 0))
    wide.fill((0, 0, 255), (0, 0, 20, 20))  # left third blue: cropped away by the centre crop
    save(wide, tmp_path / "wide.png")
    grey = pygame.Surface((16, 16), depth=8)
    grey.set_palette([(i, i, i) for i in range(256)])
    grey.fill(200)
    save(grey, tmp_path / "deep" / "er" / "grey.png")
    rgba = pygame.Surface((16, 16), pygame.SRCALPHA)
    rgba.fill((0, 255, 0, 128))
    save(rgba, tmp_path / "alpha.png")
    save(wide, tmp_path / "photo.jpg")
    data = ImageFolder(tmp_path, 8)
    assert len(data) == 4 and data.pictures.shape == (4, 3, 8, 8)
    by_name = dict(zip(["alpha", "grey", "photo", "wide"], data.pictures, strict=True))
    assert by_name["wide"][:, 4, 4].tolist() == [255, 0, 0]
    assert by_name["grey"][:, 4, 4].tolist() == [200, 200, 200]
    assert by_name["alpha"][1, 4, 4] in range(120, 136)  # half-transparent green over black
    assert data[0].min() >= -1 and data[0].max() <= 1


def test_corrupt_files_are_skipped_and_counted_in_one_warning(tmp_path, caplog):
    for i in range(3):
        save(pygame.Surface((8, 8)), tmp_path / f"ok{i}.png")
    (tmp_path / "bad1.png").write_bytes(b"garbage")
    (tmp_path / "bad2.jpg").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a picture")
    with caplog.at_level(logging.WARNING):
        data = ImageFolder(tmp_path, 8)
    assert len(data) == 3 and data.skipped == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
                and "unreadable" in r.getMessage()]
    assert len(warnings) == 1 and "skipped 2 unreadable of 5" in warnings[0]


def tiff_rgb(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A minimal uncompressed RGB TIFF (as scanners and photo tools write), built by hand."""
    pixels = bytes(rgb) * (width * height)
    count = 10
    bits_at = 8 + 2 + count * 12 + 4
    data_at = bits_at + 6
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 3, bits_at), (259, 3, 1, 1),
               (262, 3, 1, 2), (273, 4, 1, data_at), (277, 3, 1, 3), (278, 4, 1, height),
               (279, 4, 1, len(pixels)), (284, 3, 1, 1)]
    return (b"II*\x00" + struct.pack("<IH", 8, count)
            + b"".join(struct.pack("<HHII", *entry) for entry in entries)
            + struct.pack("<I", 0) + struct.pack("<HHH", 8, 8, 8) + pixels)


def test_tif_pictures_are_read(tmp_path):
    (tmp_path / "scan.tif").write_bytes(tiff_rgb(12, 12, (10, 200, 30)))
    (tmp_path / "print.TIFF").write_bytes(tiff_rgb(8, 8, (250, 0, 5)))
    data = ImageFolder(tmp_path, 8)
    assert len(data) == 2 and data.skipped == 0
    colours = sorted(tuple(p[:, 4, 4].tolist()) for p in data.pictures)
    assert colours == [(10, 200, 30), (250, 0, 5)]


def test_files_of_other_kinds_are_reported_by_extension(tmp_path, caplog):
    save(pygame.Surface((8, 8)), tmp_path / "ok.png")
    for name in ("a.heic", "b.heic", "c.psd", "notes.txt", "README"):
        (tmp_path / name).write_bytes(b"something")
    (tmp_path / ".DS_Store").write_bytes(b"finder")
    with caplog.at_level(logging.WARNING):
        data = ImageFolder(tmp_path, 8)
    assert len(data) == 1 and data.ignored == {".heic": 2, ".psd": 1, ".txt": 1, "(none)": 1}
    lines = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
    assert len(lines) == 1
    assert "ignored 5 files" in lines[0] and ".heic 2" in lines[0] and ".tif" in lines[0]


def test_a_folder_of_only_other_kinds_says_so(tmp_path):
    (tmp_path / "a.heic").write_bytes(b"x")
    with pytest.raises(ValueError, match="0 files found, 0 unreadable, 1 with other extensions"):
        ImageFolder(tmp_path, 8)


def test_resized_pictures_are_counted_in_one_line(tmp_path, caplog):
    for i in range(3):
        save(pygame.Surface((64, 64)), tmp_path / f"small{i}.png")
    save(pygame.Surface((256, 200)), tmp_path / "big.png")
    save(pygame.Surface((128, 128)), tmp_path / "exact.png")
    with caplog.at_level(logging.INFO):
        data = ImageFolder(tmp_path, 128)
    assert (data.enlarged, data.shrunk, data.cropped) == (3, 1, 1)
    lines = [r for r in caplog.records if "resized" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING  # enlarging blurs
    assert lines[0].getMessage() == ("resized 4 of 5 pictures to 128x128: 3 enlarged (the "
                                     "smallest 64 px), 1 shrunk; 1 non-square ones "
                                     "centre-cropped")
    caplog.clear()
    with caplog.at_level(logging.INFO):
        ImageFolder(tmp_path, 32)  # only shrinking: worth a note, not a warning
    lines = [r for r in caplog.records if "resized" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    assert "0 enlarged, 5 shrunk" in lines[0].getMessage()


def test_a_folder_with_no_pictures_is_a_clear_error(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="no readable"):
        ImageFolder(tmp_path, 8)
    with pytest.raises(ValueError, match="not a folder"):
        ImageFolder(tmp_path / "missing", 8)


def test_split_is_seeded_and_disjoint(tmp_path):
    for i in range(20):
        save(pygame.Surface((8, 8)), tmp_path / f"{i}.png")
    data = ImageFolder(tmp_path, 8)
    train, val = data.split(0.1, seed=3)
    assert len(val) == 2 and len(train) == 18
    assert not set(train.tolist()) & set(val.tolist())
    assert data.split(0.1, seed=3)[1].tolist() == val.tolist()


def test_procedural_pictures_are_varied_and_deterministic():
    pictures = [composition(32, np.random.default_rng(i)) for i in range(12)]
    assert all(p.shape == (32, 32, 3) and p.dtype == np.uint8 for p in pictures)
    assert all(p.std() > 3 for p in pictures)  # not flat
    means = np.array([p.reshape(-1, 3).mean(0) for p in pictures])
    assert means.std(axis=0).min() > 10  # colours differ from picture to picture
    assert np.array_equal(composition(32, np.random.default_rng(5)), pictures[5])


def test_data_procedural_command_writes_pngs(tmp_path):
    assert main(["data", "procedural", "--out", str(tmp_path), "--count", "3",
                 "--size", "24"]) == 0
    files = sorted(tmp_path.glob("*.png"))
    assert len(files) == 3
    assert pygame.image.load(str(files[0])).get_size() == (24, 24)
