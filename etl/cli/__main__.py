"""``python -m etl.cli`` = ``smspartner-etl``."""

from etl.cli import main

main()
