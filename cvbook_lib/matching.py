"""Optimal assignment equal to ``scipy.optimize.linear_sum_assignment`` (the same pairs: its
shortest-augmenting-path algorithm, tie-breaking included) and DETR's Hungarian matcher, which uses it
to match queries to targets one to one. Both are re-exported by :mod:`cvbook_lib.anchors`.

Integer, bool and complex tensors are refused where a floating tensor is needed (DETR's logits and
boxes). Deliberate differences from the references, each a clear error: a complex cost matrix (scipy,
given a torch tensor, drops the imaginary part); ``tgt_labels`` given as a list, or labelled
"no object"; boxes with a negative size.

References: Crouse 2016 / scipy's ``rectangular_lsap`` (assignment), Carion et al. 2020 (DETR).
Tested in ``tests/test_anchors.py``.
"""

from __future__ import annotations

import math

import torch

from ._box_checks import _check_boxes
from ._checks import check_bool, check_finite, check_float, check_same, check_tensor
from .boxes import box_convert, generalized_box_iou

__all__ = ["linear_sum_assignment", "hungarian_match"]


def _as_cost(cost) -> torch.Tensor:
    if isinstance(cost, (str, bytes)) or cost is None:
        raise TypeError(f"cost must be a 2-D matrix (Tensor, array or nested list), got {type(cost).__name__}")
    if not isinstance(cost, torch.Tensor):
        try:
            cost = torch.as_tensor(cost)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"cost must be a 2-D numeric matrix, got {type(cost).__name__}: {err}") from None
    if cost.is_complex():
        raise TypeError(f"cost must be real, got {cost.dtype}")
    if cost.dim() != 2:
        raise ValueError(f"cost must be a 2-D matrix, got shape {tuple(cost.shape)}")
    return cost


def _shortest_augmenting_paths(c: list, nr: int, nc: int) -> list:
    """scipy's ``rectangular_lsap`` (Crouse 2016) for nr <= nc, line by line in Python floats (so the
    same pairs on ties): add one row at a time by a Dijkstra-like shortest augmenting path on reduced
    costs c[i][j] - u[i] - v[j], then update the dual potentials u, v. Returns col4row."""
    inf = math.inf
    u, v = [0.0] * nr, [0.0] * nc
    path, col4row, row4col = [-1] * nc, [-1] * nr, [-1] * nc
    for cur in range(nr):
        spc, sr, sc = [inf] * nc, [False] * nr, [False] * nc      # shortest path costs, visited rows/cols
        remaining = list(range(nc - 1, -1, -1))
        min_val, i, sink = 0.0, cur, -1
        while sink == -1:
            index, lowest = -1, inf
            sr[i] = True
            row, ui = c[i], u[i]
            for it, j in enumerate(remaining):
                r = min_val + row[j] - ui - v[j]
                if r < spc[j]:
                    path[j], spc[j] = i, r
                if spc[j] < lowest or (spc[j] == lowest and row4col[j] == -1):   # prefer a free column
                    lowest, index = spc[j], it
            min_val = lowest
            if min_val == inf:
                raise ValueError("cost matrix is infeasible: no complete assignment avoids the +inf entries")
            j = remaining[index]
            if row4col[j] == -1:
                sink = j
            else:
                i = row4col[j]
            sc[j] = True
            remaining[index] = remaining[-1]
            remaining.pop()
        u[cur] += min_val
        for i in range(nr):
            if sr[i] and i != cur:
                u[i] += min_val - spc[col4row[i]]
        for j in range(nc):
            if sc[j]:
                v[j] -= min_val - spc[j]
        j = sink
        while True:                                                # flip the augmenting path
            i = path[j]
            row4col[j] = i
            col4row[i], j = j, col4row[i]
            if i == cur:
                break
    return col4row


def linear_sum_assignment(cost, maximize: bool = False):
    """Minimum-cost assignment of rows to columns (each used at most once, min(n, m) pairs), equal to
    ``scipy.optimize.linear_sum_assignment``: the same algorithm, so the same pairs even when optima tie.

    Args:
        cost (Tensor[n, m] or array-like, real or bool): +inf marks a forbidden pair (-inf with
            ``maximize=True``); NaN and -inf (+inf when maximizing) are refused, as scipy does.
        maximize (bool): maximize the total instead.
    Returns:
        (row_ind, col_ind): int64 Tensors with row_ind increasing. The search is sequential, so it runs
        on the CPU and returns tensors on the device of ``cost``; an empty matrix gives empty tensors.
    """
    c = _as_cost(cost)
    maximize = check_bool(maximize, "maximize")
    device = c.device
    c = c.detach().to("cpu", torch.float64)
    transposed = c.shape[0] > c.shape[1]
    if transposed:
        c = c.T
    if maximize:
        c = -c
    if bool(torch.isnan(c).any()) or bool((c == -math.inf).any()):
        bad = "NaN or +inf (maximize=True)" if maximize else "NaN or -inf"
        raise ValueError(f"cost must not contain {bad}: scipy refuses such entries")
    nr, nc = c.shape
    empty = torch.zeros(0, dtype=torch.int64, device=device)
    if nr == 0 or nc == 0:
        return empty, empty.clone()
    col4row = torch.tensor(_shortest_augmenting_paths(c.tolist(), nr, nc), dtype=torch.int64)
    rows = torch.arange(nr, dtype=torch.int64)
    if transposed:
        order = col4row.argsort()
        rows, col4row = col4row[order], rows[order]
    return rows.to(device), col4row.to(device)


def hungarian_match(pred_logits, pred_boxes, tgt_labels, tgt_boxes, cost_class: float = 1.0,
                    cost_bbox: float = 5.0, cost_giou: float = 2.0):
    """DETR's matcher for one image: C = cost_bbox·L1(b̂, b) - cost_class·p̂(c) - cost_giou·GIoU(b̂, b), then
    the optimal one-to-one assignment of the Q queries to the T targets.

    Args:
        pred_logits (Tensor[Q, num_classes + 1]) (last class = "no object"); pred_boxes (Tensor[Q, 4])
        normalized cxcywh; tgt_labels (Tensor[T] int in [0, num_classes)); tgt_boxes (Tensor[T, 4])
        normalized cxcywh; the three weights are finite numbers.
    Returns:
        (query_idx, target_idx, C): min(Q, T) matched pairs and the Tensor[Q, T] cost matrix.
    """
    check_tensor(pred_logits, "pred_logits", (2,), kind="float")
    check_tensor(tgt_labels, "tgt_labels", (1,), kind="int")
    Q, T = pred_logits.shape[0], tgt_labels.shape[0]
    for b, name, n in ((pred_boxes, "pred_boxes", Q), (tgt_boxes, "tgt_boxes", None)):
        _check_boxes(b, name, "cxcywh", 2, kind="float")
        if b.dim() != 2 or (n is not None and b.shape[0] != n):
            raise ValueError(f"{name} must be Tensor[{'Q' if n is not None else 'T'}, 4] (cxcywh), got {tuple(b.shape)}"
                             + (f" with Q = {n} rows of pred_logits" if n is not None else ""))
        check_finite(b, name)
    check_same(pred_boxes, "pred_boxes", tgt_boxes, "tgt_boxes")
    if tgt_labels.shape[0] != tgt_boxes.shape[0]:
        raise ValueError(f"tgt_labels and tgt_boxes must have the same length, got {T} and {tgt_boxes.shape[0]}")
    num_classes = pred_logits.shape[1] - 1
    if T and (int(tgt_labels.min()) < 0 or int(tgt_labels.max()) >= num_classes):
        raise ValueError(f"tgt_labels must be class indices in [0, {num_classes}) (pred_logits has {num_classes} "
                         f"classes + 'no object'), got values in [{int(tgt_labels.min())}, {int(tgt_labels.max())}]")
    weights = [check_float(w, name, allow_inf=False) for w, name in
               ((cost_class, "cost_class"), (cost_bbox, "cost_bbox"), (cost_giou, "cost_giou"))]
    prob = pred_logits.softmax(-1)
    to_xyxy = lambda b: box_convert(b, "cxcywh", "xyxy")  # noqa: E731
    giou = generalized_box_iou(to_xyxy(pred_boxes), to_xyxy(tgt_boxes))
    C = weights[1] * torch.cdist(pred_boxes, tgt_boxes, p=1) - weights[0] * prob[:, tgt_labels] - weights[2] * giou
    if bool(torch.isnan(C).any()) or bool((C == -math.inf).any()):
        raise ValueError("the cost built from pred_logits, pred_boxes and tgt_boxes has NaN or -inf entries "
                         "(an infinite logit or a zero-size box pair?)")
    q, t = linear_sum_assignment(C)
    return q, t, C
