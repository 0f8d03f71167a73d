"""The hub side of the service: its REST API client, the controller that drives servers to what
notebooks ask, and the passes that learn what the hub did."""
