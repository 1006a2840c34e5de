"""Host-to-device copies of the small index and parameter tensors a step builds on the host."""

from __future__ import annotations

import torch


def to_device(values, device: torch.device, dtype: torch.dtype = torch.long) -> torch.Tensor:
    """A small host list as a device tensor without a synchronisation: built on the host, then
    copied asynchronously (``torch.tensor(..., device=cuda)`` would wait for the copy)."""
    return torch.tensor(values, dtype=dtype).to(device, non_blocking=True)
