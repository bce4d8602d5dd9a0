"""双报到: in-service party members registered with the community where they live."""
