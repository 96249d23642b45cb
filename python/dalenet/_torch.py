"""PyTorch rebuild of a dalenet model's inference function from its file alone (an independent
implementation: the tests compare its logits and autograd input gradients with the C++ core)."""
import math

import torch
from torch import nn

_ACT = {
    "identity": lambda a: a,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "sigmoid2": lambda a: 2 * torch.sigmoid(a) - 1,
    "tanh": torch.tanh,
}


def _excitatory_count(layer):
    n = 0
    for p in layer["populations"]:
        if p["type"] != "E":
            break
        n += p["size"]
    return n


def _feedback_inhibition(z, gain):
    """I solving I = g * sum_j max(0, z_j - I) per row (docs/RULE.md, H2): over the drives
    sorted in decreasing order, I_m = g * S_m / (1 + g m) for the first m with s_m > I_m >= s_{m+1}."""
    s, _ = torch.sort(z, dim=1, descending=True)
    n = s.shape[1]
    m = torch.arange(1, n + 1, dtype=torch.float64, device=z.device)
    levels = gain * torch.cumsum(s.double(), 1) / (1 + gain * m)
    nxt = torch.cat([s[:, 1:].double(), torch.full((s.shape[0], 1), -math.inf, dtype=torch.float64)], 1)
    ok = (s.double() > levels) & (nxt <= levels)
    first = torch.argmax(ok.to(torch.int8), dim=1, keepdim=True)
    level = levels.gather(1, first).squeeze(1).float()
    return torch.where(s[:, 0] > 0, level, torch.zeros_like(level))


class DalenetModule(nn.Module):
    def __init__(self, tensors, architecture):
        super().__init__()
        self.layers = architecture["layers"]
        self.projections = architecture.get("projections", [{"efficacy": "linear"}] * (len(self.layers) - 1))
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.tensor(tensors[f"projections.{l}.weight"])) for l in range(len(self.layers) - 1)])
        self.biases = nn.ParameterList(
            [nn.Parameter(torch.tensor(tensors[f"projections.{l}.bias"])) for l in range(len(self.layers) - 1)])

    def effective_weight(self, l):
        w, p = self.weights[l], self.projections[l]
        if p["efficacy"] == "linear":
            return w
        floor = torch.tensor(p["floor"], dtype=torch.float32)
        sums = w.sum(1, keepdim=True)
        inv = torch.where(sums > 0, 1 / sums, torch.zeros_like(sums))
        return torch.log(torch.clamp(w * inv, min=floor)) - torch.log(floor)

    def forward(self, x):
        a = x.reshape(x.shape[0], -1)
        for l in range(len(self.layers) - 1):
            z = a @ self.effective_weight(l).T + self.biases[l]
            layer = self.layers[l + 1]
            f = _ACT[layer["activation"]]
            comp = layer.get("competition", "none")
            if comp == "none":
                a = f(z)
                continue
            ne = _excitatory_count(layer)
            ze = z[:, :ne]
            if comp == "kwta":
                k = layer["kwta_k"]
                level = torch.topk(ze, k + 1, dim=1).values[:, k] if k < ne else torch.full_like(ze[:, 0], -math.inf)
            else:
                level = _feedback_inhibition(ze, layer["inhibition_gain"])
            rect = torch.relu(ze - level[:, None])
            if layer.get("divisive", False):
                pool = rect.sum(1, keepdim=True)
                rect = torch.where(pool > 0, rect / torch.where(pool > 0, pool, torch.ones_like(pool)), rect)
            inter = level[:, None].expand(-1, z.shape[1] - ne)
            inter = torch.where(torch.isfinite(inter), inter, torch.zeros_like(inter))
            a = torch.cat([f(rect), inter], 1)
        return a
