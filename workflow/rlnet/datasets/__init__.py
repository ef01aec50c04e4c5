"""Datasets: the manifest every problem is described by, and the sources that produce it."""
