"""The evaluation as one self-contained HTML page (``augment report``): see :mod:`.html`."""
