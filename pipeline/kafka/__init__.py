"""The Kafka layer: every producer, consumer, admin call, the Faust app and its consumer.

clients.py (connection settings, admin, one connect path for every command), app.py
(the Faust wiring), faust_consumer.py and acks.py (what is committed when), lag.py
(consumer lag for the metrics), readers.py (the console's and the archive's readers),
embedded.py (the local broker). Nothing outside this package imports kafka, aiokafka,
faust or mode.
"""
