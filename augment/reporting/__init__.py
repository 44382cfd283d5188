"""The evaluation as one self-contained HTML page (``augment report``), rendered from the typed
result with Jinja2 templates: see :mod:`.html`."""
