"""Calibration of verification distances into probabilities (Platt)."""

import math

import numpy as np

from apps.face.verification import check_pairs


def _log_sigmoid(z):
    return -np.logaddexp(0.0, -z)


class Calibrator:
    """Platt scaling: `P(same | d) = 1 / (1 + exp(-(intercept + slope d)))`.

    Fitted by Newton's method (IRLS) with a step-halving line search, on
    Platt's smoothed targets `(N+ + 1) / (N+ + 2)` and `1 / (N- + 2)`, so
    the fit stays finite even when genuine and impostor distances do not
    overlap. The slope is negative for a working model.

    Example:

    >>> cal = Calibrator().fit(distances, same)
    >>> cal.predict_proba(0.8)
    """

    def __init__(
        self, intercept: float | None = None, slope: float | None = None
    ):
        self.intercept = intercept
        self.slope = slope

    def fit(self, distances, same) -> "Calibrator":
        d, s = check_pairs(distances, same)
        pos, neg = int(s.sum()), int((~s).sum())
        t = np.where(s, (pos + 1) / (pos + 2), 1 / (neg + 2))
        x = np.stack([np.ones_like(d), d], axis=1)

        def loss(w):
            z = x @ w
            return -np.sum(t * _log_sigmoid(z) + (1 - t) * _log_sigmoid(-z))

        w = np.zeros(2)
        for _ in range(100):
            p = np.exp(_log_sigmoid(x @ w))
            grad = x.T @ (p - t)
            hess = (x * (p * (1 - p))[:, None]).T @ x + 1e-12 * np.eye(2)
            step = np.linalg.solve(hess, grad)
            before, scale = loss(w), 1.0
            while loss(w - scale * step) > before and scale > 1e-10:
                scale /= 2
            w = w - scale * step
            if np.max(np.abs(scale * step)) < 1e-10:
                break
        self.intercept, self.slope = float(w[0]), float(w[1])
        return self

    def predict_proba(self, distances):
        """`P(same)` for distances of any shape (a float for a scalar)."""
        if self.intercept is None or self.slope is None:
            raise ValueError(
                "The calibrator is not fitted: call fit(distances, same) "
                "or load it with Calibrator.from_dict(...) first."
            )
        z = self.intercept + self.slope * np.asarray(distances, np.float64)
        p = np.exp(_log_sigmoid(z))
        return float(p) if p.ndim == 0 else p

    def to_dict(self) -> dict:
        return {"intercept": self.intercept, "slope": self.slope}

    @classmethod
    def from_dict(cls, data: dict) -> "Calibrator":
        try:
            values = [float(data[k]) for k in ("intercept", "slope")]
        except (KeyError, TypeError, ValueError):
            values = []
        if len(values) != 2 or not all(map(math.isfinite, values)):
            raise ValueError(
                "Expected a calibrator as {'intercept': float, 'slope': "
                f"float}}. Received: {data!r}"
            )
        return cls(*values)
