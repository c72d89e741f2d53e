"""cvbook_lib.models: the classic CNNs, from scratch (``nn.Module``s built from torch layers).

The builders that torchvision also has carry its names and constructor arguments, and their
``state_dict`` keys and shapes are torchvision's: ``ours.load_state_dict(tv.state_dict())`` works
strictly and the eval-mode logits are equal (``tests/test_models*.py``). The others (MobileNet v1,
pre-activation ResNet, Highway, FCN-8s, UNet, the CIFAR ResNets with and without shortcuts) follow
their papers; shapes and parameter counts are tested.
"""

from . import (
           classic,
           densenet,
           inception,
           inception_v3,
           mobilenet,
           mobilenet_v3,
           resnet,
           resnet_v2,
           segmentation,
           shufflenet,
)
from .classic import *  # noqa: F403
from .densenet import *  # noqa: F403
from .inception import *  # noqa: F403
from .inception_v3 import *  # noqa: F403
from .mobilenet import *  # noqa: F403
from .mobilenet_v3 import *  # noqa: F403
from .resnet import *  # noqa: F403
from .resnet_v2 import *  # noqa: F403
from .segmentation import *  # noqa: F403
from .shufflenet import *  # noqa: F403

__all__ = (classic.__all__ + resnet.__all__ + resnet_v2.__all__ + densenet.__all__ + inception.__all__
           + inception_v3.__all__ + mobilenet.__all__ + mobilenet_v3.__all__ + shufflenet.__all__
           + segmentation.__all__)
