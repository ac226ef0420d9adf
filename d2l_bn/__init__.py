"""d2l_bn: the helper package of the d2l-bn course on batch normalization.

Names a reader of the d2l book knows keep their d2l signatures (``load_data_fashion_mnist``, ``train_ch6``,
``Animator``, ``Accumulator``, ``try_gpu`` ...); the course's own lessons (``batch_norm``, ``BatchNorm``,
``dropout_layer``, ``softmax``, ``cross_entropy``, ``sgd``) are written out in the notebooks and kept equal to
the code here by a test. One idea per module: data, layers, losses, optim, models, devices, metrics, training,
plotting, widgets.

``import d2l_bn`` costs little more than ``import torch``: torchvision is imported only to download the data,
and matplotlib only when a plotting name (``Animator``, ``plot``, ...) is first used.
"""
import importlib

from d2l_bn.data import (fashion_mnist_tensors, get_fashion_mnist_labels, load_data_fashion_mnist,
                         load_data_fashion_mnist_with_validation, validation_split)
from d2l_bn.devices import describe_device, try_all_gpus, try_gpu
from d2l_bn.layers import BatchNorm, Dropout, batch_norm, batch_norm_backward, dropout_layer
from d2l_bn.losses import cross_entropy, log_softmax, softmax
from d2l_bn.metrics import Accumulator, Timer, accuracy
from d2l_bn.models import init_he, init_xavier, lenet, lenet_bn, mlp_dropout, softmax_regression
from d2l_bn.optim import sgd
from d2l_bn.precise_bn import recompute_bn_statistics
from d2l_bn.training import History, cosine_schedule, evaluate_accuracy_gpu, train_ch6

__all__ = [
    "Accumulator", "Animator", "BatchNorm", "Dropout", "History", "Timer", "accuracy", "batch_norm",
    "batch_norm_backward", "cosine_schedule", "cross_entropy", "describe_device", "dropout_layer",
    "evaluate_accuracy_gpu", "fashion_mnist_tensors", "get_fashion_mnist_labels", "init_he", "init_xavier", "lenet",
    "lenet_bn", "load_data_fashion_mnist", "load_data_fashion_mnist_with_validation", "log_softmax", "mlp_dropout",
    "plot", "recompute_bn_statistics", "set_axes", "set_figsize", "sgd", "show_images", "softmax",
    "softmax_regression", "train_ch6", "try_all_gpus", "try_gpu", "use_svg_display", "validation_split",
]

# Plotting names are looked up on first use (PEP 562), so that importing the package does not import matplotlib.
_PLOTTING = ("Animator", "plot", "set_axes", "set_figsize", "show_images", "use_svg_display")


def __getattr__(name: str):
    if name in _PLOTTING:
        value = getattr(importlib.import_module("d2l_bn.plotting"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'd2l_bn' has no attribute {name!r}")
