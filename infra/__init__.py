"""The Pulumi program that promotes the cluster to AWS: ten EC2 nodes behind an ALB.

One component per concern (`network`, `security`, `registry`, `fleet`, `load_balancer`), wired
together by `program.build`. The pure parts — config validation, the node environment and the
user data — live in their own modules so the tests can check them without a cloud or the CLI.
"""
