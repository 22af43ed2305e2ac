"""Deploy documents read from text, with their line numbers: YAML trees, Kubernetes
manifests and kustomizations, compose files, Dockerfiles, entrypoint scripts, systemd units,
and the quantities (sizes, CPU, durations) written in them."""
