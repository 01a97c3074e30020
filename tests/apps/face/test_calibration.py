"""Platt calibration of verification distances."""

import json
import math

import numpy as np
import pytest

from apps.face import calibration


def test_calibrator_recovers_known_logistic_parameters():
    rng = np.random.default_rng(0)
    d = rng.uniform(0, 2.5, 20000)
    same = rng.random(d.size) < 1 / (1 + np.exp(-(6.0 - 5.0 * d)))
    cal = calibration.Calibrator().fit(d, same)
    assert cal.intercept == pytest.approx(6.0, abs=0.3)
    assert cal.slope == pytest.approx(-5.0, abs=0.25)
    assert cal.predict_proba(1.2) == pytest.approx(0.5, abs=0.03)
    again = calibration.Calibrator.from_dict(
        json.loads(json.dumps(cal.to_dict()))
    )
    np.testing.assert_allclose(
        again.predict_proba([0.0, 1.0, 3.0]), cal.predict_proba([0.0, 1.0, 3.0])
    )


def test_calibrator_stays_finite_when_separable_and_checks_input():
    d = np.array([0.2, 0.3, 0.4, 1.5, 1.6, 1.7])
    cal = calibration.Calibrator().fit(d, [1, 1, 1, 0, 0, 0])
    assert math.isfinite(cal.intercept) and cal.slope < 0
    assert cal.predict_proba(0.2) > 0.75 > 0.25 > cal.predict_proba(1.7)
    with pytest.raises(ValueError, match="not fitted"):
        calibration.Calibrator().predict_proba(0.5)
    with pytest.raises(ValueError, match="intercept"):
        calibration.Calibrator.from_dict({"intercept": 1.0})
