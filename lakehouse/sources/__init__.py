"""The source system's database side: table `transaction_data` and how batches get into it.

`schema` declares the table and opens the engine, `loader` appends one validated batch
atomically (with `reading` for CSV input and `staging` for the per-dialect bulk insert),
`split` cuts a large CSV into replayable batch files, `files` decides what of the reference
files may leave (allow-list, raw folder only, no CVV), and `cli` is `lakehouse sources
load|split`. The HTTP service `sources_api` and the pipeline's feeder both build on this
package; it imports no service.
"""
