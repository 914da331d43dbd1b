"""The online store: the declared features kept per entity and updated event by event.

`compute` evaluates the declarations for one transaction from state; `store` is the state's
interface (`memory_store.MemoryStore` in process; `redis_store.RedisStore` for several
replicas); `builder` fills a store from the lake; `replay` proves the online numbers equal the
gold table's.
"""
