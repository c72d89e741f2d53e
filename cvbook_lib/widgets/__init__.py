"""Explorers (BOOK.md section 6). Each is three layers: a pure function that computes everything
the figure shows (tested), a matplotlib plot of it (English labels), and a thin ipywidgets wrapper
for a live kernel; plus a kernel-free animation (precomputed frames with a JavaScript slider) for
the static HTML book.
"""

from .activations import activation_animation, activation_curves, activation_explorer, gradient_through_depth
from .architectures import ARCHITECTURES, arch_animation, arch_explorer, arch_view, plot_arch_view
from .attention import attention_animation, attention_explorer, attention_view, plot_attention_view
from .conv import (
    ConvGeometry,
    conv_animation,
    conv_explorer,
    conv_geometry,
    conv_sweep_animation,
    plot_conv_geometry,
)
from .focal import focal_animation, focal_curves, focal_explorer, imbalanced_batch, loss_shares
from .init import INITS, init_animation, init_explorer, layer_statistics
from .metrics import (
    plot_threshold_view,
    scored_dataset,
    threshold_animation,
    threshold_explorer,
    threshold_view,
)
from .nms import crowded_scene, nms_animation, nms_explorer, nms_view, plot_nms_view
from .norm import bn_animation, bn_explorer, bn_trace
from .optim import SURFACES, plot_race, race, race_animation, race_explorer
from .pooling import plot_pool_view, pool_animation, pool_explorer, pool_view
from .quantization import (
    plot_quant_view,
    quant_animation,
    quant_explorer,
    quant_view,
    quantizable_layers,
    quantize_weight,
)
from .receptive_field import plot_rf_view, rf_animation, rf_explorer, rf_view

__all__ = ["ARCHITECTURES", "arch_view", "plot_arch_view", "arch_explorer", "arch_animation",
           "scored_dataset", "threshold_view", "plot_threshold_view", "threshold_explorer", "threshold_animation",
           "attention_view", "plot_attention_view", "attention_explorer", "attention_animation",
           "crowded_scene", "nms_view", "plot_nms_view", "nms_explorer", "nms_animation",
           "INITS", "layer_statistics", "init_explorer", "init_animation",
           "SURFACES", "race", "plot_race", "race_explorer", "race_animation",
           "bn_trace", "bn_explorer", "bn_animation",
           "focal_curves", "imbalanced_batch", "loss_shares", "focal_explorer", "focal_animation",
           "activation_curves", "gradient_through_depth", "activation_explorer", "activation_animation",
           "ConvGeometry", "conv_geometry", "plot_conv_geometry", "conv_explorer", "conv_animation",
           "conv_sweep_animation", "rf_view", "plot_rf_view", "rf_explorer", "rf_animation", "pool_view",
           "plot_pool_view", "pool_explorer", "pool_animation", "quantizable_layers", "quantize_weight", "quant_view",
           "plot_quant_view", "quant_explorer", "quant_animation"]
