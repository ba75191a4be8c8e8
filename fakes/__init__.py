"""In-process fakes of the outside world (Slack), used by the tests and by `jitbot demo`."""
