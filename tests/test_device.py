import logging

import torch

from live.device import pick_device


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
