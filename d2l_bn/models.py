"""The networks the course trains: LeNet with and without batch norm, an MLP with dropout.

Architectures follow d2l: `lenet` is ch. 7.6's (sigmoid + average pooling, padding 2
on the first convolution so 28x28 inputs keep the 400-feature flatten), `lenet_bn`
is ch. 8.5's, which drops that padding (28 -> 24 -> 12 -> 8 -> 4, so 16*4*4 = 256
features) and puts a batch-norm layer after every convolution and linear layer,
BEFORE the sigmoid, so the nonlinearity sees normalised inputs.
"""
from __future__ import annotations

from typing import Sequence

from torch import nn

from d2l_bn.layers import BatchNorm, Dropout


def init_xavier(m: nn.Module) -> None:
    """Xavier-uniform init for Linear/Conv2d weights (d2l's train_ch6 `init_weights`).

    Use as `net.apply(init_xavier)`. Weight variance 2 / (fan_in + fan_out) (Glorot &
    Bengio, 2010). Assumes zero-mean activations in the linear regime of a symmetric
    nonlinearity (tanh near 0), where a layer multiplies the variance by fan_in * Var[w].
    Biases are left as they are (d2l).
    """
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        nn.init.xavier_uniform_(m.weight)


def init_he(m: nn.Module) -> None:
    """He (Kaiming) normal init for Linear/Conv2d weights: N(0, 2 / fan_in) (He et al., 2015).

    Use as `net.apply(init_he)`. Assumes a ReLU after the layer: a ReLU keeps half of the
    second moment of a pre-activation that is symmetric around 0, so fan_in * Var[w] = 2
    keeps the pre-activations' variance constant through depth. Biases are left as they are.
    """
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        nn.init.kaiming_normal_(m.weight, nonlinearity="relu")


def lenet() -> nn.Sequential:
    """LeNet-5 as in d2l: input (B, 1, 28, 28) -> logits (B, 10)."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10))


def lenet_bn(scratch: bool = False) -> nn.Sequential:
    """LeNet with BN (d2l ch. 8.5); scratch=True: our BatchNorm (same weights per seed)."""
    def bn(num_features: int, num_dims: int) -> nn.Module:
        if scratch:
            return BatchNorm(num_features, num_dims=num_dims)
        return nn.BatchNorm2d(num_features) if num_dims == 4 else nn.BatchNorm1d(num_features)

    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5), bn(6, 4), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), bn(16, 4), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 120), bn(120, 2), nn.Sigmoid(),
        nn.Linear(120, 84), bn(84, 2), nn.Sigmoid(),
        nn.Linear(84, 10))


def mlp_dropout(dropout1: float = 0.2, dropout2: float = 0.5,
                num_hiddens: Sequence[int] = (256, 256), num_inputs: int = 784,
                num_outputs: int = 10, scratch: bool = False) -> nn.Sequential:
    """d2l's two-hidden-layer MLP with dropout after each hidden ReLU.

    The default rates 0.2 / 0.5 are those of d2l-zh v2 and d2l-en up to 0.17 (§4.6); d2l-en v1.0
    (§5.6) uses 0.5 / 0.5. scratch=True uses our `Dropout`, otherwise nn.Dropout; both drop only
    in train().
    """
    if len(num_hiddens) != 2:
        raise ValueError(f"num_hiddens must give the sizes of exactly two hidden layers, "
                         f"got {tuple(num_hiddens)}; e.g. num_hiddens=(256, 256)")
    drop = Dropout if scratch else nn.Dropout
    h1, h2 = num_hiddens
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(num_inputs, h1), nn.ReLU(), drop(dropout1),
        nn.Linear(h1, h2), nn.ReLU(), drop(dropout2),
        nn.Linear(h2, num_outputs))


def softmax_regression(num_inputs: int = 784, num_outputs: int = 10) -> nn.Sequential:
    """Softmax regression as a network: flatten the image, one linear layer to logits.

    The softmax itself lives in the loss (cross-entropy from logits), not in the model.
    """
    return nn.Sequential(nn.Flatten(), nn.Linear(num_inputs, num_outputs))
