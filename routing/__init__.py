"""Skill- and region-based distribution of calls to nurses, collaboration between regions
and the national queue. A pure policy over a store (Redis live, in-memory for simulation)."""
