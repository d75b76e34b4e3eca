"""The elders read model: who wears which device, who lives alone, who has dementia."""
