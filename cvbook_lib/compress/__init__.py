"""cvbook_lib.compress: model compression and deployment (chapter 13), from scratch, each tool equal to the
torch tool it re-implements (tests/test_compress_*.py).

- ``pruning``: magnitude / structured / global masks (= ``torch.nn.utils.prune``) and N:M sparsity;
  ``channels``: channel pruning along a dependency chain, sparsity, Network Slimming's penalty.
- ``quant``: affine quantization, observers' qparams (= ``torch.ao.quantization``), fake quantization with
  the straight-through gradient; ``qops``: integer-only linear and conv; ``lowbit``: stochastic rounding,
  binary / ternary weights, k-means codebooks.
- ``lowrank``: SVD factorization of linear and conv layers; ``fuse``: BN folding (= ``torch.nn.utils.fusion``)
  and RIFormer's re-parameterization; ``distill``: DKD, DIST, several teachers.
- ``nas``: a tabular architecture search (random vs REINFORCE) and a weight-sharing supernet.
- ``deploy`` (ONNX export, ONNX Runtime) and ``lab`` (chapter 13's digits model) are imported on their own:
  ``from cvbook_lib.compress import deploy, lab`` (deploy needs onnx and onnxruntime).
"""

from . import channels, distill, fuse, lowbit, lowrank, nas, pruning, qops, quant
from .channels import *  # noqa: F403
from .distill import *  # noqa: F403
from .fuse import *  # noqa: F403
from .lowbit import *  # noqa: F403
from .lowrank import *  # noqa: F403
from .nas import *  # noqa: F403
from .pruning import *  # noqa: F403
from .qops import *  # noqa: F403
from .quant import *  # noqa: F403

__all__ = (channels.__all__ + distill.__all__ + fuse.__all__ + lowbit.__all__ + lowrank.__all__ + nas.__all__
           + pruning.__all__ + qops.__all__ + quant.__all__)
