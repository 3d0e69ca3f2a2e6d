"""Device drivers: I/O, deadlines and retries around the sans-IO protocols."""
