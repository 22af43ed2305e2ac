"""``killproof fleet``: every workload of a cluster ranked by how likely it is to be killed
next, from Prometheus history (and, optionally, the workloads' manifests from the
Kubernetes API or ``kubectl get -o json`` dumps, judged by the deploy rules)."""
