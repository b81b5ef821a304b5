"""Pure numpy/torch core of napari-fluogan: never imports Qt or napari."""
