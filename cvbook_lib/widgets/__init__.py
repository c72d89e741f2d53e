"""Explorers (BOOK.md section 6). Each is three layers: a pure function that computes everything
the figure shows (tested), a matplotlib plot of it (English labels), and a thin ipywidgets wrapper
for a live kernel; plus a kernel-free animation (precomputed frames with a JavaScript slider) for
the static HTML book.
"""

from .conv import (
    ConvGeometry,
    conv_animation,
    conv_explorer,
    conv_geometry,
    conv_sweep_animation,
    plot_conv_geometry,
)
from .pooling import plot_pool_view, pool_animation, pool_explorer, pool_view
from .receptive_field import plot_rf_view, rf_animation, rf_explorer, rf_view

__all__ = ["ConvGeometry", "conv_geometry", "plot_conv_geometry", "conv_explorer", "conv_animation",
           "conv_sweep_animation", "rf_view", "plot_rf_view", "rf_explorer", "rf_animation", "pool_view",
           "plot_pool_view", "pool_explorer", "pool_animation"]
