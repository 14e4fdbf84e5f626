from ..small_lake import EVM, T0, account, small_lake, transfer, write_lake  # noqa: F401
