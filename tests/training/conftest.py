"""Shared helpers for the training tests: tiny networks with non-trivial BNTT statistics.

Torch is imported lazily so that the NumPy-only data tests run without it.
"""

TINY = dict(arch="4,P,6,G", input_shape=(3, 16, 16), timesteps=8, leak=0.9,
            mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def tiny_snn(seed=0, warmup=3, **overrides):
    """A random tiny SpikingVGG whose BNTT running statistics were updated by a few train-mode passes."""
    import torch

    from training.models import NetConfig, SpikingVGG

    torch.manual_seed(seed)
    net = SpikingVGG(NetConfig(**{**TINY, **overrides}))
    gen = torch.Generator().manual_seed(seed)
    net.train()
    with torch.no_grad():
        for _ in range(warmup):
            net(net.encode(torch.rand(8, *net.cfg.input_shape, generator=gen), gen))
        for m in net.modules():
            if hasattr(m, "running_var"):
                m.weight.mul_(1.0 + 0.5 * torch.rand(m.weight.shape, generator=gen))
    return net.eval()
