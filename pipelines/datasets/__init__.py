"""Readers of detection datasets in the formats people have.

Every reader returns the same triple `(arrays, class_names, report)`:
`arrays` holds `images (N, S, S, 3) uint8` letterboxed squares, `boxes
(N, max_boxes, 4)` normalized xyxy on the square (zero padded) and
`classes (N, max_boxes)` int32 (padded with -1); `report` is a
`records.ReadReport`. `spec.load_dataset_split` reads a dataset YAML and
picks the reader by its `format`.
"""
