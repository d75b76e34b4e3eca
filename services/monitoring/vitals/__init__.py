"""Vitals: readings, per-elder thresholds, sustained-abnormal detection, downsampled history."""
