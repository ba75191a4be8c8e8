"""The jitbot domain: pure Python, no I/O. Talks to the world only through the ports in core.ports."""
