"""``killproof plan``: from a drill's measurements to the settings that keep a Go service alive.

evidence.py reads drill reports; deployed.py reads the manifest; sizing.py, goruntime.py
and rollout.py turn both into recommendations (pure); alerts.py writes Prometheus rules;
patch.py writes the kustomize patch or edits the manifest; run.py wires them into a Report.
"""
