"""Several ``live`` hosts on one machine, for tests and measurements of a multi-node show.

* :mod:`live.cluster.netns` builds hosts as Linux network namespaces on a private bridge
  (needs root and iproute2), runs commands in them and tears them down;
* :mod:`live.cluster.linkprobe` measures how closely Ableton Link's beat phase agrees between
  processes in those hosts (``python -m live.cluster.linkprobe --bench``).
"""
