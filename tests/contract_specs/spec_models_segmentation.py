"""Contract cases for cvbook_lib.models.segmentation (no reference: FCN-8s and UNet follow their papers,
tests/test_models.py checks them against the layer lists and F.interpolate). Small widths, full battery."""

import torch

from contract_specs import Case
from contract_specs._models_common import run_filled as _run
from cvbook_lib.models import segmentation as S

_X_FCN = torch.randn(1, 2, 32, 64, generator=torch.Generator().manual_seed(1))
_X_UNET = torch.randn(2, 1, 8, 12, generator=torch.Generator().manual_seed(2))

SPECS = {
    S.FCN8s: [
        Case(
            S.FCN8s,
            dict(num_classes=3, in_channels=2, widths=(2, 3, 4, 5, 6), convs=(1, 2, 1, 1, 1), fc_channels=8),
            out=_run(_X_FCN),
        )
    ],
    S.UNet: [
        Case(S.UNet, dict(in_channels=1, num_classes=2, base_channels=2, depth=3, skip=True), out=_run(_X_UNET)),
        Case(S.UNet, dict(in_channels=1, num_classes=3, base_channels=3, depth=2, skip=False), out=_run(_X_UNET)),
    ],
    S.bilinear_kernel: [
        Case(S.bilinear_kernel, dict(channels=3, kernel_size=4)),
        Case(S.bilinear_kernel, dict(channels=1, kernel_size=5)),
    ],
}
