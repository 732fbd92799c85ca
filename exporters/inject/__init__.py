"""``flextime-exporter inject``: a mutating admission webhook that adds the right exporter
sidecar to pods annotated ``exporters.flextime.io/inject: postgres|redis``.

- :mod:`.patch`: the pure part: pod (a dict) in, JSONPatch operations and warnings out. The
  container is built with the ``kubernetes`` package's models (imported on first use).
- :mod:`.server`: AdmissionReview handling and the aiohttp server over TLS.
- :mod:`.command`: the click command the CLI loads when ``inject`` runs.

Nothing here is imported by the exporters: ``kubernetes`` costs ~17 MiB, paid only by this
command (see docs/inject.md)."""
