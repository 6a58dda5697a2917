"""The web console at ``/``, the browser SDK ``tracker.js`` and the demo CRM page."""
