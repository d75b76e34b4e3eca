"""Fleet simulator: thousands of wearables, each its own MQTT session, on one asyncio loop."""

from tools.sim.fleet import Fleet, FleetConfig, raise_fd_limit

__all__ = ["Fleet", "FleetConfig", "raise_fd_limit"]
