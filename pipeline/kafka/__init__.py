"""The Kafka layer: every producer, consumer, admin call, the Faust app and its consumer.

Nothing outside this package imports kafka, aiokafka or faust.
"""
