"""The load tier: pure tests of the load shapes and key space, and a Locust run on the cluster.

Locust is only ever run as a subprocess: it monkey-patches the process with gevent at import.
"""
