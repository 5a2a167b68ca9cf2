"""Shared mechanisms every collector uses: run context and sub-deadlines, running programs, sysfs
attributes, state files, warn-once, secrets, bounded fan-out."""
