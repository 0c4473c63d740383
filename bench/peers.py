"""Python PyTorch peers of smlab's registered models, as a Python user would write them, for the
benchmarks (bench/train_step.py) and the op-count test (tests/python/test_op_counts.py).

Each peer has the same architecture and parameter count as the smlab model it stands beside (the
benchmarks check the counts before comparing). Where smlab's model does more than the plain
textbook layer stack (TextCNN's padding masks and max-norm, BiLSTM's padding-aware reversal), the
peer is the plain version a user would write: the comparison then says what smlab's extras cost.
"""
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlockA(nn.Module):
    """CIFAR ResNet block with option-A shortcut (He et al. 2016): stride-2 subsampling + zero channels."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pad = cout - cin
        self.stride = stride

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        sc = x
        if self.stride != 1 or self.pad:
            sc = x[:, :, :: self.stride, :: self.stride]
            sc = F.pad(sc, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(out + sc)


class CifarResNet(nn.Module):
    def __init__(self, depth=20, classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, cin = [], 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                layers.append(BasicBlockA(cin, cout, stride if i == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        return self.fc(x.mean((2, 3)))


class TextCNN(nn.Module):
    """Kim (2014) CNN-rand as usually written: narrow convolutions, no padding mask, no max-norm."""

    def __init__(self, vocab=8000, dim=128, kernels=(3, 4, 5), filters=100, dropout=0.5, classes=3):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim, padding_idx=0)
        self.convs = nn.ModuleList([nn.Conv1d(dim, filters, k) for k in kernels])
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(filters * len(kernels), classes)

    def forward(self, tokens):
        e = self.embedding(tokens).transpose(1, 2)
        pooled = [F.relu(c(e)).amax(2) for c in self.convs]
        return self.fc(self.dropout(torch.cat(pooled, 1)))


class TextCNNSame(TextCNN):
    """smlab's text_cnn written in Python: the same function (wide convolutions, k-1 zeros on both
    sides; windows over padding only are masked out; Kim's max-norm 3 on the classifier rows,
    applied at each training forward). The like-for-like peer, where TextCNN is the usual one."""

    def __init__(self, vocab=8000, dim=128, kernels=(3, 4, 5), filters=100, dropout=0.5, classes=3, max_norm=3.0):
        super().__init__(vocab, dim, kernels, filters, dropout, classes)
        self.convs = nn.ModuleList([nn.Conv1d(dim, filters, k, padding=k - 1) for k in kernels])
        self.kernels, self.max_norm = kernels, max_norm

    def forward(self, tokens):
        if self.training and self.max_norm > 0:
            with torch.no_grad():
                self.fc.weight.renorm_(2, 0, self.max_norm)
        kmax = max(self.kernels)
        e = self.embedding(tokens).transpose(1, 2)
        valid = F.pad((tokens != 0).unsqueeze(1).to(e.dtype), (kmax - 1, 0), mode="replicate")
        pooled = [(F.relu(c(e)) * valid[:, :, kmax - k:]).amax(2) for c, k in zip(self.convs, self.kernels)]
        return self.fc(self.dropout(torch.cat(pooled, 1)))


class BiLSTM(nn.Module):
    """Embedding, bidirectional nn.LSTM over packed sequences, max pooling over the real tokens, linear."""

    def __init__(self, vocab=8000, dim=128, hidden=128, classes=3, embed_dropout=0.3, dropout=0.5):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim, padding_idx=0)
        self.embed_dropout = nn.Dropout(embed_dropout)
        self.lstm = nn.LSTM(dim, hidden, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * hidden, classes)

    def forward(self, tokens):
        mask = tokens != 0
        lengths = mask.sum(1).cpu()
        e = self.embed_dropout(self.embedding(tokens))
        packed = nn.utils.rnn.pack_padded_sequence(e, lengths, batch_first=True, enforce_sorted=False)
        h, _ = nn.utils.rnn.pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=tokens.size(1))
        pooled = h.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)
        return self.fc(self.dropout(pooled))


class R3DBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv3d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm3d(cout), nn.ReLU(True))
        self.conv2 = nn.Sequential(nn.Conv3d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm3d(cout))
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv3d(cin, cout, 1, stride, bias=False), nn.BatchNorm3d(cout))

    def forward(self, x):
        sc = x if self.downsample is None else self.downsample(x)
        return F.relu(self.conv2(self.conv1(x)) + sc)


class R3D18(nn.Module):
    """torchvision's r3d_18 (3x7x7 stem, 2 BasicBlocks of 3x3x3 convs per stage) with a width option."""

    def __init__(self, width=64, in_channels=3, classes=400):
        super().__init__()
        w = width
        self.stem = nn.Sequential(nn.Conv3d(in_channels, w, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False),
                                  nn.BatchNorm3d(w), nn.ReLU(True))
        layers, cin = [], w
        for i, cout in enumerate((w, 2 * w, 4 * w, 8 * w)):
            stride = 1 if i == 0 else 2
            layers += [R3DBlock(cin, cout, stride), R3DBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(8 * w, classes)

    def forward(self, x):
        h = self.layers(self.stem(x))
        return self.fc(F.adaptive_avg_pool3d(h, 1).flatten(1))


def _tokens(b, length=64, vocab=8000, classes=3):
    return torch.randint(1 + classes, vocab, (b, length)), torch.randint(0, classes, (b,))


# name: (smlab model, batch, smlab overrides, python factory, input factory)
CASES = {
    "resnet20": ("resnet20", 128, [], lambda: CifarResNet(20, 10),
                 lambda b: (torch.randn(b, 3, 32, 32), torch.randint(0, 10, (b,)))),
    "text_cnn": ("text_cnn", 64, [], lambda: TextCNN(), _tokens),
    "text_cnn_same": ("text_cnn", 64, [], lambda: TextCNNSame(), _tokens),
    "bilstm": ("bilstm", 64, [], lambda: BiLSTM(), _tokens),
    "r3d_18": ("r3d_18", 8, ["model.width=16"], lambda: R3D18(width=16, in_channels=1, classes=40),
               lambda b: (torch.rand(b, 1, 8, 32, 32), torch.randint(0, 40, (b,)))),
}


def make_step(factory, inputs, batch, device="cpu"):
    """The peer's training step on one in-memory batch: zero_grad, forward, cross-entropy, backward, SGD
    (torch.optim.SGD's defaults: single-tensor on CPU, multi-tensor foreach on CUDA)."""
    torch.manual_seed(0)
    model = factory().to(device)
    x, y = (t.to(device) for t in inputs(batch))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, step


def param_count(model):
    return sum(p.numel() for p in model.parameters())


def count_ops(step, steps=2, warmup=1, prefix="aten::"):
    """ATen operators one step dispatches, as smlab's core/op_count.h counts them (torch.profiler, CPU
    activity, nested ones included): (ops per step, {name: per step})."""
    for _ in range(warmup):
        step()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the profiler's note that it keeps one cycle's events
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(steps):
                step()
    hist = {}
    for e in prof.events():
        if e.name.startswith(prefix):
            hist[e.name] = hist.get(e.name, 0) + 1
    return sum(hist.values()) / steps, {k: v / steps for k, v in sorted(hist.items())}
