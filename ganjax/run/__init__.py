"""The run layer: the training loop, checkpoints, workdir, reporting and the logic behind each command."""
