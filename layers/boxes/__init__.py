"""Pure tensor ops on bounding boxes: formats, IoU, NMS and the YOLO codec.

Boxes are `"xyxy"` (`x_min, y_min, x_max, y_max`) unless a function says
otherwise; `convert_format` moves between `"xyxy"`, `"xywh"` and `"cxcywh"`.
"""

from layers.boxes.formats import FORMATS
from layers.boxes.formats import clip_boxes
from layers.boxes.formats import convert_format
from layers.boxes.formats import to_normalized
from layers.boxes.formats import to_pixels
from layers.boxes.iou import elementwise_iou
from layers.boxes.iou import pairwise_iou
from layers.boxes.nms import DetectionNMS
from layers.boxes.nms import non_max_suppression
from layers.boxes.yolo_codec import decode_yolo_predictions
from layers.boxes.yolo_codec import decode_yolo_targets
from layers.boxes.yolo_codec import encode_yolo_targets
from layers.boxes.yolo_codec import kmeans_anchors

__all__ = [
    "FORMATS",
    "DetectionNMS",
    "clip_boxes",
    "convert_format",
    "decode_yolo_predictions",
    "decode_yolo_targets",
    "encode_yolo_targets",
    "kmeans_anchors",
    "elementwise_iou",
    "non_max_suppression",
    "pairwise_iou",
    "to_normalized",
    "to_pixels",
]
