"""smspartner-etl: keep a relational database in step with an SMS Partner account."""

__version__ = "0.1.0"
