"""Electronic fences (电子围栏) per elder, with anti-flapping enter/exit detection."""
