"""Everything of napari-fluogan that touches napari or Qt.

Modules with one job each:

- :mod:`.geometry`, :mod:`.layer_info`, :mod:`.run` and :mod:`.settings` are Qt-free
  helpers (overlay transforms, ROI extraction, layer inspection, the engine glue and
  the widget-values-to-config mapping) that tests call directly;
- :mod:`.reader`, :mod:`.writer` and :mod:`.sample_data` are the npe2 reader, writer
  and sample-data contributions;
- :mod:`.loss_plot`, :mod:`.forms` and :mod:`.widget` build the dock widget.
"""
