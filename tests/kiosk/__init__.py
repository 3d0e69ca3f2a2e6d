"""Browser tests of the kiosk UI (Playwright driving Debian's chromium)."""
