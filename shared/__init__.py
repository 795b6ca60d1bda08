"""What the API and the workers share: configuration, database, object storage, schemas, errors."""
