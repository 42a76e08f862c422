"""live: a real-time generative performance server (latent walks, fx, OSC, audio, live text)."""

__version__ = "0.1.0"
