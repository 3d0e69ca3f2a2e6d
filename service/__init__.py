"""The cart's local FastAPI service: the nurse's workflow, kiosk UI and API."""
