"""Several proxy processes (`[proxy] workers = N`): the supervisor side (`supervisor`),
the worker process (`worker`) and the link between them (`channel`).
See docs/architecture.md, "Processes"."""
