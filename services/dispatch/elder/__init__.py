"""Dispatch's read model of the care record: elder snapshots and the device → elder index."""
