"""The index on Cosmos DB: the only package that imports ``azure.cosmos`` or holds SQL."""
