"""The ``eventsim`` subcommands of this package (entry-point group ``eventsim.commands``).

Registered in ``pyproject.toml``; importing this module is cheap (no
PyTorch), so ``eventsim --help`` lists the commands without loading them.
"""
from __future__ import annotations

from eventsim.extensions import Extension

train = Extension("training.cli_train", "train a spiking VGG or an ANN on SynthShapes (needs PyTorch)", "train")
convert = Extension("training.cli_train", "ANN-to-SNN conversion with threshold balancing (needs PyTorch)", "train")
export = Extension("training.cli_export", "export a checkpoint to a model file (needs PyTorch)", "train")
evaluate = Extension("training.cli_evaluate", "accuracy and spike rates on a data set", "train")
dataset = Extension("training.cli_dataset", "export SynthShapes images for 'eventsim run'", "train")
experiment = Extension("training.experiments.cli", "reproduce the paper's experiments (needs PyTorch)", "train")
