"""Baselines in napari: mean, Richardson-Lucy, SOFI2 and SOFI2 + RL on the same ROI.

A magicgui widget; the computation runs in a napari worker and the result is added
as an image layer that overlays the input exactly, next to FluoGAN's ``x``.
"""

from enum import Enum
from typing import TYPE_CHECKING, Optional

import numpy as np
from magicgui import magic_factory
from napari.layers import Image, Shapes
from napari.qt.threading import FunctionWorker, thread_worker
from napari.types import LayerDataTuple
from napari.utils.notifications import show_error

from ..core.baselines import run_baseline
from ..core.calibrate import estimate_camera
from ..core.errors import FluoGANError
from ..core.psf import PSF_MODELS
from ..core.stack import crop_roi, to_photons, validate_frames
from . import metadata_keys as keys
from .geometry import Roi, display_range, overlay_transform, roi_from_shapes
from .layer_info import pixel_size_nm_from_layer

if TYPE_CHECKING:
    import napari


class Method(Enum):
    """Baselines, by their name in the core."""

    MEAN = "mean"
    RL = "rl"
    SOFI2 = "sofi2"
    SOFI2_RL = "sofi2-rl"


LABELS = {
    Method.MEAN: "mean image",
    Method.RL: "RL(mean)",
    Method.SOFI2: "SOFI2",
    Method.SOFI2_RL: "SOFI2+RL",
}
CALIBRATION_FRAMES = 200  # frames used when gain and offset are estimated
AS_FLUOGAN = "as-fluogan"  # PSF shape: the one FluoGAN's last run on the stack assumed


def fluogan_psf_model(viewer: "napari.viewer.Viewer", stack_name: str) -> str:
    """The PSF shape of FluoGAN's top-most ``x`` layer of ``stack_name`` (resolved, so an
    ``auto`` run gives the shape it took), or ``"gaussian"`` when there is none."""
    for layer in reversed(list(viewer.layers)):
        meta = layer.metadata or {}
        config = meta.get(keys.CONFIG) or {}
        if meta.get(keys.ROLE) == "x" and meta.get(keys.SOURCE) == stack_name:
            shape = config.get("psf_model")
            if shape in PSF_MODELS:
                return str(shape)
    return "gaussian"


def _prepare(
    stack: Image, roi_layer: Shapes | None, pixel_size_nm: float, alpha: float, offset: float
) -> tuple[np.ndarray, Roi, float]:
    """Photon frames of the ROI, the ROI and the pixel size (GUI thread, fast checks)."""
    if stack is None:
        raise FluoGANError("Choose an image layer that holds a stack (time first).")
    frames = validate_frames(np.asarray(stack.data))
    roi = roi_from_shapes(roi_layer, stack)
    if pixel_size_nm <= 0:
        found = pixel_size_nm_from_layer(stack.scale, getattr(stack, "units", None),
                                         stack.metadata)
        if found is None:
            raise FluoGANError(
                "The layer does not say its pixel size: type the camera pixel size in nm."
            )
        pixel_size_nm = found
    if alpha <= 0:
        cal = estimate_camera(frames[:CALIBRATION_FRAMES])
        alpha, offset = cal.alpha, cal.offset
    photons = to_photons(crop_roi(frames, roi.as_tuple), alpha, offset)
    return photons, roi, pixel_size_nm


@magic_factory(
    call_button="Compute",
    viewer={"visible": False},
    stack={"label": "Stack", "tooltip": "Image layer holding the stack (time first)."},
    roi_layer={"label": "ROI (Shapes)",
               "tooltip": "Selected or first rectangle; none = the whole frame."},
    method={"label": "Method", "tooltip": "Baseline to compute on the same ROI as FluoGAN."},
    psf_fwhm_nm={"label": "PSF FWHM (nm)", "min": 1.0, "max": 5000.0, "step": 1.0,
                 "tooltip": "Full width at half maximum of the PSF, in the sample."},
    psf_model={"label": "PSF shape",
               "choices": [("as FluoGAN's run", AS_FLUOGAN)] + [(m, m) for m in PSF_MODELS],
               "tooltip": "The PSF shape RL assumes. 'as FluoGAN's run': the shape FluoGAN "
               "took on this stack in its last run (its auto choice included), Gaussian "
               "before any run, so both methods use one PSF model. SOFI2 + RL needs "
               "gaussian."},
    pixel_size_nm={"label": "Pixel size (nm)", "min": 0.0, "max": 10000.0,
                   "tooltip": "Camera pixel in the sample; 0 = from the layer's scale."},
    upsample={"label": "Upsampling L", "min": 1, "max": 8,
              "tooltip": "Fine-grid factor for RL and SOFI2 + RL."},
    alpha={"label": "Gain α (ADU/photon)", "min": 0.0, "max": 1e4, "step": 0.01,
           "tooltip": "Camera gain; 0 = estimate gain and offset from the data."},
    offset={"label": "Offset (ADU)", "min": -1e6, "max": 1e6,
            "tooltip": "Camera baseline (used when the gain is given)."},
    iterations={"label": "RL iterations", "min": 1, "max": 5000,
                "tooltip": "Richardson-Lucy iterations (RL and SOFI2 + RL)."},
)
def compare_widget(
    viewer: "napari.viewer.Viewer",
    stack: Image,
    roi_layer: Optional[Shapes] = None,  # noqa: UP045 - magicgui resolves this at runtime
    method: Method = Method.RL,
    psf_fwhm_nm: float = 318.0,
    psf_model: str = AS_FLUOGAN,
    pixel_size_nm: float = 0.0,
    upsample: int = 4,
    alpha: float = 0.0,
    offset: float = 0.0,
    iterations: int = 100,
) -> Optional[FunctionWorker]:  # noqa: UP045 - resolved by magicgui at runtime
    """Compute a baseline on the ROI and add it as a layer overlaying the stack.

    Returns the started worker (its result is added to ``viewer``), or None after
    showing what is wrong with the input.
    """
    try:
        photons, roi, pixel_nm = _prepare(stack, roi_layer, pixel_size_nm, alpha, offset)
    except FluoGANError as exc:
        show_error(str(exc))
        return None
    name = f"{stack.name} {LABELS[method]}"
    shape = fluogan_psf_model(viewer, stack.name) if psf_model == AS_FLUOGAN else psf_model

    @thread_worker(progress={"desc": f"{LABELS[method]}"})
    def compute() -> LayerDataTuple:
        image, out_nm = run_baseline(method.value, photons, pixel_nm, upsample, psf_fwhm_nm,
                                     iterations, psf_model=shape)
        factor = int(round(pixel_nm / out_nm))
        overlay = overlay_transform((roi.y, roi.x), factor, stack.scale, stack.translate)
        meta = {"method": method.value, "roi": list(roi.as_tuple), "pixel_size_nm": out_nm,
                "psf_model": shape}
        return (image, {"name": name, "scale": overlay.scale, "translate": overlay.translate,
                        "contrast_limits": display_range(image), "colormap": "magma",
                        "blending": "additive", "metadata": meta}, "image")

    worker = compute()
    worker.returned.connect(lambda result: _show(viewer, result))
    worker.errored.connect(lambda exc: show_error(f"{LABELS[method]} failed: {exc}"))
    worker.start()
    return worker


def _show(viewer: "napari.viewer.Viewer", result: LayerDataTuple) -> None:
    """Add the baseline as a layer, or refresh the one of the same name."""
    data, kwargs, _ = result
    name = kwargs["name"]
    if name in viewer.layers:
        layer = viewer.layers[name]
        layer.data = data
        for key in ("scale", "translate", "contrast_limits", "metadata"):
            setattr(layer, key, kwargs[key])
    else:
        viewer.add_image(data, **kwargs)


def add_to_viewer(viewer: "napari.viewer.Viewer") -> None:  # pragma: no cover - convenience
    """Dock the widget on ``viewer`` (scripts and docs)."""
    viewer.window.add_dock_widget(compare_widget(), name="FluoGAN: compare methods")
