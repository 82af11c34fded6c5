"""Training side of eventsim: data, PyTorch SNNs/ANNs, conversion and export.

:mod:`training.data` (SynthShapes), :mod:`training.folders`,
:mod:`training.cli_dataset` and the eventsim path of
:mod:`training.cli_evaluate` need only NumPy (and Pillow for folders); the
rest needs PyTorch (``pip install -e '.[train]'``).  The model file written by
:mod:`training.export` is the only thing shared with the simulator
(DESIGN section 1).
"""
