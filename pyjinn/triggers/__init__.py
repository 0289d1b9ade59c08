"""Triggers other than HTTP: cron schedules, MQTT messages and NATS subjects.

Each turns its event into an invocation of a function through the one pipeline
(``pyjinn.invocation``): cron ticks and MQTT messages as jobs (``pyjinn.jobs``: stored,
retried, dead-lettered), NATS requests directly, answered with the function's response.

    schedule   cron specs to instants (also used to check config)
    cron       a job per tick, once across every process and node
    lease      one process of the deployment does a thing alone (the MQTT connection)
    mqtt       messages to jobs; QoS 1 acknowledged when the job has ended
    nats       subjects to invocations; request/reply
    service    the triggers of one process, following reloads
"""
