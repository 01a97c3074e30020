"""Box-aware augmentation of detection samples.

`sample` (the sample convention and shared helpers), `geometric` (ops that
move boxes), `photometric` (ops that change pixels only), `mosaic`, and
`policy` (`augment_detection`, the default chain).
"""
