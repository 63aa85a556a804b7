"""One memory budget for every RocksDB database of a worker.

Faust opens one RocksDB database per table and partition (3 tables x SP_TOPIC_PARTITIONS = 24 here),
each with its own 2 GB block cache and up to three 64 MB memtables: a worker's memory grew with the
writes it had taken (1.3 GB after 100 minutes of one match) and had no bound short of 5 GB. Here
every database shares one block cache of SP_ROCKSDB_MEMORY_MB, and their memtables are charged to
that same cache through one write-buffer manager, so RocksDB's memory as a whole stays under it
(RocksDB's "cost memtables to the block cache", https://github.com/facebook/rocksdb/wiki/Write-Buffer-Manager).
"""

from __future__ import annotations

import rocksdict
from faust.stores.rocksdb import RocksDBOptions

from sports_prophet.config import settings

MB = 1024 * 1024
MEMTABLE_BYTES = 4 * MB          # each database's memtable; a table's values are a few kB per run
MEMTABLE_SHARE = 0.5             # of the budget, at most, in memtables (the rest caches blocks)

shared_cache = rocksdict.Cache(settings.rocksdb_memory_mb * MB)
shared_memtables = rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(
    int(settings.rocksdb_memory_mb * MB * MEMTABLE_SHARE), False, shared_cache)


def bounded_options(self: RocksDBOptions) -> rocksdict.Options:
    """Faust's options for one database (rocksdict driver), on the worker's shared budget."""
    options = rocksdict.Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_max_open_files(self.max_open_files)
    options.set_write_buffer_size(MEMTABLE_BYTES)
    options.set_max_write_buffer_number(2)
    options.set_target_file_size_base(self.target_file_size_base)
    options.set_write_buffer_manager(shared_memtables)
    table = rocksdict.BlockBasedOptions()
    table.set_bloom_filter(self.bloom_filter_size, block_based=True)
    table.set_block_cache(shared_cache)
    table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
    options.set_block_based_table_factory(table)
    return options


RocksDBOptions.as_options = bounded_options
