"""Training side of eventsim: data, PyTorch SNNs/ANNs, conversion and export.

Everything here except :mod:`training.data` and :mod:`training.errors`
needs PyTorch (``pip install -e '.[train]'``).  The model file written by
:mod:`training.export` is the only thing shared with the simulator
(DESIGN section 1).
"""
