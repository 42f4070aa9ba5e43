"""The services: store, retrieve, search, delete, and the sweep, verify and rebuild around them."""
