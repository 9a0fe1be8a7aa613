"""Reproducible experiments built on the public API (each module: one experiment, one ``run_*``).

- :mod:`explorer.experiments.augment` — does synthetic data from a class-conditional GAN help a
  classifier trained on few real images? (``gan-explorer experiment augment``, ``bench/bench_augment.py``)
"""
