"""Storage: Blob Storage, the storage clients, and creating the local containers."""
