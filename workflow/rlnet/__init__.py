"""RL-Net: biomarker regression and localization from CT without training masks.

Array convention everywhere: numpy axis order (z, y, x) for volumes and (y, x) for slices;
a spacing tuple is in millimetres and in the same order as the array axes.
"""

__version__ = "0.1.0"
