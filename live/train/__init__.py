"""Training: data loading (image folders, procedural art, text) and the training loops."""
