"""The MNIST CNN architecture shared by train_mnist_cnn.py and compare_torchattacks.py.

Input: N x 1 x 28 x 28 float32 in [0, 1] (no normalization anywhere).
Output: N x 10 logits.
"""
import torch.nn as nn


class MnistCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 5),   # 28 -> 24
            nn.ReLU(),
            nn.MaxPool2d(2),       # 24 -> 12
            nn.Conv2d(16, 32, 5),  # 12 -> 8
            nn.ReLU(),
            nn.MaxPool2d(2),       # 8 -> 4
            nn.Flatten(),          # 32*4*4 = 512
            nn.Linear(512, 100),
            nn.ReLU(),
            nn.Linear(100, 10),
        )

    def forward(self, x):
        return self.net(x)
