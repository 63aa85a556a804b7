"""Operations tools, not app wiring: the local Kafka/Cassandra stack manager, the worker supervisor, and
worker child processes for tests and benchmarks. Nothing here imports the Faust app."""
