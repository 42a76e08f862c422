import logging

import torch

from live.device import pick_device
from live.engine import canvas_size_for


def test_cuda_asked_without_cuda_warns_and_uses_the_cpu(caplog, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with caplog.at_level(logging.WARNING):
        choice = pick_device("cuda")
    assert choice.device.type == "cpu" and choice.dtype == torch.float32
    assert "CUDA is not available" in caplog.text


def test_auto_on_a_cpu_machine_is_fp32(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    choice = pick_device("auto")
    assert choice.device.type == "cpu" and choice.dtype == torch.float32


def test_canvas_follows_output_aspect_for_fill_and_is_square_for_fit():
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert canvas_size_for((1280, 720), "fill", 128, 0, cpu) == (228, 128)
    assert canvas_size_for((1280, 720), "fit", 128, 0, cpu) == (128, 128)
    assert canvas_size_for((1280, 720), "fill", 128, 0, gpu) == (1280, 720)
    assert canvas_size_for((1280, 720), "fill", 128, 256, cpu) == (456, 256)
