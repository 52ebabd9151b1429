"""Labels of a channel's packages (see `stockyard.types.labels` for the model)."""

from stockyard.labels.operations import (
    ChannelHandles,
    LabelChange,
    channel_labels,
    labels_of,
    relabel,
)

__all__ = ["ChannelHandles", "LabelChange", "channel_labels", "labels_of", "relabel"]
