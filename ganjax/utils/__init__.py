"""Foundations every layer may use: errors, paths, image files, device mesh."""
