import pytest

from napari_fluogan import FluoGANConfig, FluoGANError
from napari_fluogan.core.config import fwhm_from_na
from napari_fluogan.core.psf import AiryPSF, GaussianPSF, measure_fwhm_px


def test_json_round_trip(tmp_path):
    cfg = FluoGANConfig(psf_fwhm_nm=250.0, roi=(1, 2, 30, 40), lambda1=0.1, seed=7)
    path = tmp_path / "config.json"
    cfg.to_json(path)
    again = FluoGANConfig.from_json(path)
    assert again == cfg
    assert again.roi == (1, 2, 30, 40)
    assert FluoGANConfig.from_json(cfg.to_json()) == cfg


def test_fwhm_from_na_and_wavelength():
    cfg = FluoGANConfig(psf_fwhm_nm=None, na=1.15, emission_wavelength_nm=600.0)
    assert cfg.effective_psf_fwhm_nm == pytest.approx(fwhm_from_na(600.0, 1.15))
    assert cfg.effective_psf_fwhm_nm == pytest.approx(318.26, abs=0.1)


def test_psf_model_picks_the_shape_the_engine_assumes():
    """Gaussian of the given FWHM; Airy of the given FWHM, or the Airy pattern of the
    objective when NA and wavelength are given (its FWHM is 0.51 lambda / NA, narrower
    than the 0.61 lambda / NA used for the Gaussian). The default, "auto", is chosen
    per run (test_psf_choice.py)."""
    assert FluoGANConfig(psf_model="gaussian").make_psf() == GaussianPSF(318.0)
    airy = FluoGANConfig(psf_model="airy").make_psf()
    assert isinstance(airy, AiryPSF)
    assert measure_fwhm_px(airy.kernel(5.0)) * 5.0 == pytest.approx(318.0, rel=0.03)
    by_na = FluoGANConfig(psf_fwhm_nm=None, na=1.4, emission_wavelength_nm=670.0,
                          psf_model="airy").make_psf()
    assert by_na == AiryPSF(1.4, 670.0)
    cfg = FluoGANConfig(psf_model="airy")
    assert FluoGANConfig.from_json(cfg.to_json()).psf_model == "airy"


@pytest.mark.parametrize(
    "changes,words",
    [
        ({"psf_fwhm_nm": 0.0}, "FWHM"),
        ({"psf_fwhm_nm": -5.0}, "FWHM"),
        ({"psf_fwhm_nm": None}, "numerical aperture"),
        ({"upsample": 0}, "between 1 and 8"),
        ({"upsample": 9}, "between 1 and 8"),
        ({"upsample": 2.5}, "whole number"),
        ({"pixel_size_nm": 0.0}, "pixel size"),
        ({"alpha": 0.0}, "alpha"),
        ({"sigma": -1.0}, "sigma"),
        ({"roi": (0, 0, 2, 2)}, "at least 4"),
        ({"roi": (-1, 0, 10, 10)}, "negative"),
        ({"lambda1": -0.1}, "lambda1"),
        ({"lambda2": float("nan")}, "lambda2"),
        ({"iterations": 0}, "iterations"),
        ({"batch_size": 0}, "batch_size"),
        ({"device": "tpu"}, "device"),
        ({"gamma": 0.0, "use_critic": False}, "nothing to fit"),
        ({"step_scale": 3.0}, "step_scale"),
        ({"psf_model": "lorentz"}, "psf_model must be one of auto, gaussian, airy"),
    ],
)
def test_bad_settings_are_rejected_with_a_clear_message(changes, words):
    with pytest.raises(FluoGANError, match=words):
        FluoGANConfig(**changes)


def test_unknown_and_broken_json(tmp_path):
    with pytest.raises(FluoGANError, match="Unknown"):
        FluoGANConfig.from_dict({"psf_fwhm": 3})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(FluoGANError, match="JSON"):
        FluoGANConfig.from_json(bad)
    with pytest.raises(FluoGANError, match="not found"):
        FluoGANConfig.from_json(tmp_path / "missing.json")
