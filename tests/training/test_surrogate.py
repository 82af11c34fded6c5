"""The spike function, Eq. 8's surrogate gradient and the fused LIF recurrence."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from training.models import lif, lif_stepwise  # noqa: E402
from training.surrogate import BETA, spike, surrogate_grad  # noqa: E402


@pytest.mark.parametrize("theta", [1.0, 0.37, 2.5])
def test_surrogate_gradient_is_eq8(theta):
    """d spike / d u equals beta * max(0, 1 - |(u - theta) / theta|), evaluated independently in NumPy."""
    u_np = np.linspace(-1.0 * theta, 3.0 * theta, 401)
    u = torch.tensor(u_np, requires_grad=True)
    s = spike(u, theta)
    s.sum().backward()
    expected = 0.3 * np.maximum(0.0, 1.0 - np.abs((u_np - theta) / theta))
    np.testing.assert_allclose(u.grad.numpy(), expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(s.detach().numpy(), (u_np > theta).astype(float))
    assert BETA == 0.3
    # peak beta at the threshold, zero beyond distance theta
    assert u.grad.max().item() == pytest.approx(0.3)
    assert float(surrogate_grad(torch.tensor(2.0 * theta + 1e-9), theta)) == 0.0


def test_spike_is_strict_at_the_threshold():
    assert spike(torch.tensor([1.0]), 1.0).item() == 0.0
    assert spike(torch.tensor([1.0 + 1e-6]), 1.0).item() == 1.0
    with pytest.raises(ValueError):
        spike(torch.tensor([1.0]), 0.0)


def _naive_lif(a, theta, leak):
    """DESIGN section 2 in plain NumPy: s[t] = v[t-1] > theta; v[t] = leak v[t-1] + a[t] - theta s[t]."""
    v = np.zeros(a.shape[:1] + a.shape[2:])
    out = np.zeros_like(a)
    for t in range(a.shape[1]):
        s = (v > theta).astype(a.dtype)
        v = leak * v + a[:, t] - theta * s
        out[:, t] = s
    return out


def test_lif_matches_the_naive_twin():
    rng = np.random.default_rng(0)
    a = rng.normal(0.3, 0.8, (5, 17, 4, 3, 3))
    got = lif(torch.tensor(a), 1.2, 0.9).numpy()
    np.testing.assert_array_equal(got, _naive_lif(a, 1.2, 0.9))
    # nothing can fire at step 0: v[-1] = 0
    assert got[:, 0].sum() == 0


def test_fused_lif_gradient_equals_autograd_through_the_steps():
    rng = np.random.default_rng(1)
    a = rng.normal(0.4, 0.9, (3, 12, 6))
    w = torch.tensor(rng.normal(size=a.shape))
    a1 = torch.tensor(a, requires_grad=True)
    a2 = torch.tensor(a, requires_grad=True)
    (lif(a1, 1.0, 0.95) * w).sum().backward()
    (lif_stepwise(a2, 1.0, 0.95) * w).sum().backward()
    np.testing.assert_allclose(a1.grad.numpy(), a2.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert a1.grad.abs().sum() > 0
    # the last step's current reaches no spike inside the window
    assert a1.grad[:, -1].abs().sum() == 0
