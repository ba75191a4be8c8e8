"""``jitbot playground``: the real bot on the embedded fakes, in a Slack-like page on 127.0.0.1.

Not part of the production process (an import-linter contract): the CLI loads it lazily, like ``jitbot demo``.
"""
