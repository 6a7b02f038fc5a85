"""The worker channel: the proxy, the transport, the worker's pipes and limits, and ``sandbox/``
(the worker's side, the only code that runs beside student code)."""
