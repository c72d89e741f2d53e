"""cvbook_lib: the tested implementations behind the book 《计算机视觉面试：可运行的教科书》.

One module per topic; every function mirrors its reference library (torch, torchvision,
scipy, scikit-learn) and is tested against it in ``tests/``.
"""

from . import (
           activations,
           anchors,
           arch_lab,
           attention,
           autodiff,
           boxes,
           channel_attention,
           cka,
           contrastive,
           conv,
           conv_arith,
           correlate,
           detection_metrics,
           distributed,
           features,
           gradients,
           init,
           losses,
           matching,
           metrics,
           mil,
           mixture,
           models,
           norm,
           optim,
           pooling,
           position,
           profile,
           receptive_field,
           recsys,
           rnn,
           roi,
           utils,
           vit,
           whitening,
)
from .utils import fmt, get_device, randn, seed_everything

__version__ = "0.1.0"
__all__ = ["activations", "anchors", "arch_lab", "attention", "autodiff", "boxes", "channel_attention", "cka",
           "contrastive", "conv", "conv_arith", "correlate", "detection_metrics", "distributed", "features",
           "gradients", "init", "losses", "matching", "metrics", "mil", "mixture", "models", "norm", "optim", "pooling",
           "position", "profile", "receptive_field", "recsys", "rnn", "roi", "utils", "vit", "whitening", "fmt",
           "get_device", "randn", "seed_everything"]
