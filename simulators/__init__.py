"""Device simulators speaking the exact wire protocols over real transports."""
