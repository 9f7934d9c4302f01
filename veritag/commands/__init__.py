"""Command groups of the ``veritag`` CLI that live in modules of their own.

Each module exposes ``register(app)``, which adds its commands to the app ``veritag.cli`` builds.
"""
