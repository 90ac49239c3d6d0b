"""Weight prepacking: each tuned kernel reads its constant weights already in the layout it wants.

MetaSchedule's RewriteLayout postprocessor gives a convolution or matmul schedule its own blocked
weight layout, but only for buffers marked layout-free, and nothing marks them unless asked:
without this every tuned kernel re-reads its weights in NCHW order. Marked before task
extraction (AttachAttrLayoutFreeBuffers), the layout rewrite the schedule adds is split out of
the kernel after the records are applied (SplitLayoutRewritePreproc) and, as NACOS builds the
weights in as constants, computed once at build time (FoldConstant): the network keeps its inputs
and outputs, its weights are stored prepacked.

Measured (MobileNetV2 1.0, this machine, one task at a time, 256 trials each, same tuner):
fused_conv2d_add_tir_clip 387.7 -> 235.8 us (-39 %), fused_conv2d22_add15_add17 216.3 -> 198.5 us
(-8 %). A marked task hashes differently from the unmarked one, so the records of both live side
by side in one store, and a board turns it on with `weight_prepack = true` (board.py).
"""

from __future__ import annotations


def before_extraction() -> list:
    """Passes after fusion that mark the weights of every fused function as layout-free."""
    from tvm import relax

    return [relax.transform.AttachAttrLayoutFreeBuffers()]


def after_records() -> list:
    """Passes after the records are applied: the weights' layout rewrite out of the kernels, then
    computed on the constant weights."""
    from tvm import relax

    return [relax.transform.SplitLayoutRewritePreproc(), relax.transform.FoldConstant()]

