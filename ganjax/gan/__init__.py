"""The GAN itself: network states, the adversarial step and its losses, sampling."""
