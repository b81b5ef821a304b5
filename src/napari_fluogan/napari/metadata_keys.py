"""Keys FluoGAN writes into its result layers' metadata.

The widget writes them; Compare methods (the PSF shape of FluoGAN's last run on a
stack) and the writer (the run's config and run record into the TIFF) read them back;
the reader puts a saved result's config and run record back under the same keys.
They are part of what a saved session or a script sees, so their values do not
change.
"""

CONFIG = "fluogan_config"  # the run's FluoGANConfig as a dict
ROLE = "fluogan_role"  # "x" or "b"
SOURCE = "fluogan_source"  # the name of the stack layer it was reconstructed from
ROI = "fluogan_roi"  # (y, x, height, width) in camera pixels
ITERATION = "fluogan_iteration"
LOSSES = "fluogan_losses"
ELAPSED_S = "fluogan_elapsed_s"
RUN = "fluogan_run"  # what the run read: stack and dark stack files, planes (io.run_record)
