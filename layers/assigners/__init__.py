"""Label assignment: which anchor points learn which ground-truth box."""

from layers.assigners.task_aligned import task_aligned_assign

__all__ = ["task_aligned_assign"]
